/* tls_testutil.c compiled once more for test_tls_cache (a second unit_test listing the same
 * source would redefine its object's rule). */
#include "tls_testutil.c"
