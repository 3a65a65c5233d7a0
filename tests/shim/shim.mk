# tests/shim: the fault-injecting PKCS#11 module (tests/shim/p11shim.h), a shared object that
# forwards to SoftHSMv2 (COFFRE_SHIM_MODULE). Built by `make build-tests` (TEST_EXTRAS).
# Not a module_lib / unit_test: a -fPIC -shared .so with only C_GetFunctionList and the
# p11shim_* control functions exported. With SAN=asan/fuzz it is instrumented like the tests
# that dlopen it; the sanitizer runtime lives in the test executable, so the .so is linked
# without -fsanitize (no libasan DT_NEEDED, no runtime copy of its own): its __asan_* /
# __ubsan_* references resolve against the executable at dlopen time.
P11SHIM_SO := $(BUILD)/tests/libp11shim.so
P11SHIM_OBJ := $(BUILD)/shobj/tests/shim/p11shim.o
P11SHIM_CFLAGS := $(filter-out -fPIE,$(CFLAGS_BASE)) -fPIC -fvisibility=hidden $(P11_CFLAGS)

$(P11SHIM_OBJ): tests/shim/p11shim.c
	@mkdir -p $(@D)
	$(CC) $(P11SHIM_CFLAGS) -MMD -MP -c $< -o $@
$(P11SHIM_SO): $(P11SHIM_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-z,relro,-z,now -Wl,--no-undefined-version -o $@ $^ -ldl -lpthread
ALL_OBJS += $(P11SHIM_OBJ)
TEST_EXTRAS += $(P11SHIM_SO)
