/* `coffred provision`: QA and fresh-appliance provisioning, called from firmware/main.c. */
#ifndef COFFRE_FIRMWARE_PROVISION_PROVISION_H
#define COFFRE_FIRMWARE_PROVISION_PROVISION_H

/* provision_main's exit statuses (the process's: the same values as coffred's own) */
#define PROVISION_EXIT_OK 0
#define PROVISION_EXIT_FAIL 1
#define PROVISION_EXIT_USAGE 64

/* `coffred provision --qa DIR [--port PORT] [--clients N] [--server-key ec|rsa]` and
 * `coffred provision --fresh DIR [--port PORT]`; argv[0] is "provision". Returns the exit
 * status. */
int provision_main(int argc, char **argv);

#endif
