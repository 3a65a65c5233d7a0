# The QA container (docs/qa-container.md): an OCI image archive of the appliance's root
# filesystem, and its test against the machine's Docker engine. Neither runs in `make test`.
#
#   make container        build/image/coffre-qa.oci.tar (image/container/build.sh)
#   make test-container   load it into the Docker engine, run it, test it
#                         (tests/container/test_container.py); cleans up what it created

CONTAINER_TAR := $(BUILD)/image/coffre-qa.oci.tar
CONTAINER_DEPS := image/container/build.sh image/container/oci.py image/container/entrypoint.sh \
                  image/rootfs.sh image/lib.sh image/openssl.cnf

.PHONY: container test-container deps-container

deps-container:
	@bash tools/deps.sh ensure container

$(CONTAINER_TAR): $(PROGRAMS) $(CONTAINER_DEPS) | deps-container
	@bash image/container/build.sh $(BUILD) $@

container: deps-check deps-container $(CONTAINER_TAR)

test-container: container
	@/usr/bin/python3 tests/container/test_container.py $(CONTAINER_TAR)
