# hsm/: the PKCS#11 client.
#   libhsm.a     production build
#   libhsm_th.a  the same sources with -DCOFFRE_TEST_HOOKS (hsm_test_selftest_corrupt,
#                hsm_test_raw): unit tests link "hsm_th board" with $(HSM_CFLAGS) and
#                $(HSM_LDLIBS), e.g.
#   $(eval $(call unit_test,test_x,tests/unit/hsm/test_x.c,hsm_th board,$(HSM_CFLAGS),$(HSM_LDLIBS)))
HSM_SRCS := hsm/p11_err.c hsm/p11_load.c hsm/p11_object.c hsm/p11_exec.c hsm/p11_slot.c \
            hsm/kek_scan.c hsm/recover.c hsm/p11_session.c hsm/kek.c hsm/wrap.c hsm/blob.c hsm/der.c hsm/keypair.c hsm/keywrap.c hsm/selftest.c \
            hsm/backup.c hsm/wipe.c hsm/kwp.c hsm/kpgen.c hsm/crypto.c
HSM_CFLAGS := $(P11_CFLAGS)
HSM_LDLIBS := -ldl -lpthread
$(eval $(call module_lib,hsm,$(HSM_SRCS),$(HSM_CFLAGS)))

HSM_TH_OBJS := $(patsubst %.c,$(BUILD)/thobj/%.o,$(HSM_SRCS))
$(HSM_TH_OBJS): $(BUILD)/thobj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -DCOFFRE_TEST_HOOKS $(HSM_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/libhsm_th.a: $(HSM_TH_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
ALL_OBJS += $(HSM_TH_OBJS)
