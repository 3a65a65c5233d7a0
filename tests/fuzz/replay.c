/* Replay driver: links with one fuzz target instead of libFuzzer ([osc] src/tests/fuzzing),
 * so that every target also builds as a plain tool, in every build (gcc, ASan, fuzz).
 *   replay_<target> FILE|DIR...   runs LLVMFuzzerTestOneInput once per file (a directory:
 *                                 each regular file in it, in name order)
 * Prints "replayed N inputs" and exits 0; a crash or abort() in the target is the failure. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX (16u << 20)

static int replay_file(const char *path, size_t *count)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n = 0;
	int rc = -1;

	if (f == NULL) {
		fprintf(stderr, "replay: %s: cannot open\n", path);
		return -1;
	}
	buf = malloc(REPLAY_MAX);
	if (buf == NULL)
		goto out;
	n = fread(buf, 1, REPLAY_MAX, f);
	if (ferror(f) || !feof(f)) {
		fprintf(stderr, "replay: %s: read error or larger than %u bytes\n", path, REPLAY_MAX);
		goto out;
	}
	/* an exact-size copy, so that a sanitizer sees reads past the input */
	uint8_t *exact = malloc(n ? n : 1);
	if (exact == NULL)
		goto out;
	memcpy(exact, buf, n);
	(void)LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	(*count)++;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	size_t count = 0;
	int bad = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: not found\n", argv[i]);
			bad = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad |= replay_file(argv[i], &count) != 0;
			continue;
		}
		struct dirent **ents = NULL;
		int ne = scandir(argv[i], &ents, NULL, by_name);
		if (ne < 0) {
			fprintf(stderr, "replay: %s: cannot list\n", argv[i]);
			bad = 1;
			continue;
		}
		for (int k = 0; k < ne; k++) {
			char path[4096];
			struct stat fst;
			int len = snprintf(path, sizeof path, "%s/%s", argv[i], ents[k]->d_name);
			if (len > 0 && (size_t)len < sizeof path && stat(path, &fst) == 0 &&
			    S_ISREG(fst.st_mode))
				bad |= replay_file(path, &count) != 0;
			free(ents[k]);
		}
		free(ents);
	}
	printf("replayed %zu inputs\n", count);
	return bad ? 1 : 0;
}
