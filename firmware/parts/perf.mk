# perf part (owner: perf): the store's group commit (write lock, committer thread).
FIRMWARE_SRCS_PARTS += firmware/commit.c
