# firmware/store/commit.c: the store's group commit (write lock, committer thread, kill -9 mid-batch).
$(eval $(call unit_test,test_commit,tests/unit/firmware/test_commit.c,$(FIRMWARE_LIBS) board,,$(FIRMWARE_LDLIBS)))
