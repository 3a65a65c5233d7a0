/* The console's board commands (firmware/console/con.h; docs/console/board.md):
 *
 *   net show | set ADDR/PREFIX [gateway GW] [dns DNS...] | dhcp | hostname NAME
 *              the network settings: network.conf beside coffred.conf (board/netconf.c),
 *              applied by the appliance's init at the next boot
 *   time show | set YYYY-MM-DDTHH:MM:SSZ | ntp SERVER... | ntp off
 *              the board's clock (the development host's clock is not ours to set) and its
 *              NTP servers: saved in network.conf and given to the board at once (the
 *              appliance's sync thread takes them; the host keeps them, applies nothing)
 *   reboot, shutdown
 *              a power request: the main thread stops the service cleanly and the process
 *              exits with the status the appliance's init turns into the power action
 *
 * Every change is confirmed ([y/N]) and audited ("net:set", "time:set", "power:off"...) on
 * top of the shell's own record of the command. */
#include <stdio.h>
#include <string.h>

#include "board/board.h"
#include "firmware/console/con.h"

#define NET_DETAIL_MAX 200

/* The settings, one "key: value" line each. */
static void net_print(struct con *c, const struct board_net *n)
{
	con_printf(c, "mode: %s\n", n->dhcp ? "dhcp" : "static");
	if (!n->dhcp) {
		con_printf(c, "address: %s/%u\n", n->address, n->prefix);
		con_printf(c, "gateway: %s\n", n->gateway[0] != '\0' ? n->gateway : "none");
	}
	con_printf(c, "dns:");
	for (unsigned i = 0; i < n->n_dns; i++)
		con_printf(c, " %s", n->dns[i]);
	con_printf(c, "%s\n", n->n_dns == 0 ? (n->dhcp ? " from DHCP" : " none") : "");
	con_printf(c, "hostname: %s\n", n->hostname[0] != '\0' ? n->hostname : "not set");
}

/* The settings on one line, for the audit record. */
static void net_detail(const struct board_net *n, char *out, size_t cap)
{
	size_t used;

	if (n->dhcp)
		(void)snprintf(out, cap, "dhcp");
	else
		(void)snprintf(out, cap, "static %s/%u%s%s", n->address, n->prefix,
			       n->gateway[0] != '\0' ? " gateway " : "", n->gateway);
	for (unsigned i = 0; i < n->n_dns; i++) {
		used = strlen(out);
		(void)snprintf(out + used, cap - used, "%s%s", i == 0 ? " dns " : " ", n->dns[i]);
	}
	if (n->hostname[0] != '\0') {
		used = strlen(out);
		(void)snprintf(out + used, cap - used, " hostname %s", n->hostname);
	}
}

/* The saved settings (the defaults when none; a damaged file is said and replaced by the
 * defaults). */
static void net_load(struct con *c, const char *cmd, struct board_net *n, bool *saved)
{
	const char *why = NULL;
	cf_err rc = board_net_load(c->svc->cfg->dir, n, &why);

	*saved = rc == CF_OK;
	if (rc == CF_E_BAD_VALUE)
		con_printf(c, "%s: %s/%s is damaged (%s); the defaults stand in for it\n", cmd,
			   c->svc->cfg->dir, BOARD_NET_FILE, why != NULL ? why : "?");
	else if (rc != CF_OK && rc != CF_E_NOT_FOUND)
		con_printf(c, "%s: %s/%s cannot be read (%s); the defaults stand in for it\n", cmd,
			   c->svc->cfg->dir, BOARD_NET_FILE, cf_err_str(rc));
}

static cf_err net_show(struct con *c, int argc, char **argv)
{
	struct board_net n;
	bool saved;

	(void)argc;
	(void)argv;
	net_load(c, "net show", &n, &saved);
	net_print(c, &n);
	if (!saved)
		con_printf(c, "(nothing saved: these are the defaults)\n");
	if (strcmp(board_name(), "appliance") == 0)
		con_printf(c, "(init applies the saved settings at boot)\n");
	else
		con_printf(c, "(board %s: the settings are saved, this machine's network is not "
			      "changed)\n", board_name());
	return CF_OK;
}

/* Confirm, save, audit, say when it applies. */
static cf_err net_commit(struct con *c, const char *cmd, const char *op,
			 const struct board_net *n, bool confirm)
{
	char detail[NET_DETAIL_MAX];
	const char *why = NULL;
	cf_err rc;

	if ((rc = board_net_check(n, &why)) != CF_OK) {
		con_printf(c, "%s: %s; nothing was changed\n", cmd, why != NULL ? why : "invalid");
		return rc;
	}
	if (confirm) {
		con_printf(c, "new network settings:\n");
		net_print(c, n);
		if (!con_confirm(c, "Save them? KMIP clients reach the appliance there after its "
				    "next boot.")) {
			con_printf(c, "%s: cancelled; nothing was changed\n", cmd);
			return CF_E_CANCELLED;
		}
	}
	net_detail(n, detail, sizeof detail);
	if ((rc = board_net_save(c->svc->cfg->dir, n)) != CF_OK) {
		con_printf(c, "%s: the settings could not be saved (%s); nothing was changed\n", cmd,
			   cf_err_str(rc));
		con_audit(c, op, NULL, rc, detail);
		return rc;
	}
	con_audit(c, op, NULL, CF_OK, detail);
	if (strcmp(board_name(), "appliance") == 0)
		con_printf(c, "saved; they apply from the next boot (reboot)\n");
	else
		con_printf(c, "saved in %s/%s (board %s: nothing is applied)\n", c->svc->cfg->dir,
			   BOARD_NET_FILE, board_name());
	return CF_OK;
}

/* "dns D1 [D2 [D3]]" from argv[*i] on (up to the next keyword). */
static cf_err net_set_dns(struct con *c, int argc, char **argv, int *i, struct board_net *n)
{
	const char *why;
	int family;

	n->n_dns = 0;
	while (*i < argc && strcmp(argv[*i], "gateway") != 0 && strcmp(argv[*i], "dns") != 0) {
		if (n->n_dns == BOARD_DNS_MAX) {
			con_printf(c, "net set: at most %d name servers; nothing was changed\n",
				   BOARD_DNS_MAX);
			return CF_E_BAD_VALUE;
		}
		if (board_ip_parse(argv[*i], n->dns[n->n_dns], &family, &why) != CF_OK) {
			con_printf(c, "net set: name server '%.60s': %s; nothing was changed\n", argv[*i],
				   why);
			return CF_E_BAD_VALUE;
		}
		n->n_dns++;
		(*i)++;
	}
	if (n->n_dns == 0) {
		con_printf(c, "net set: dns needs at least one address; nothing was changed\n");
		return CF_E_BAD_VALUE;
	}
	return CF_OK;
}

/* argv after ADDR/PREFIX: [gateway GW] [dns DNS...], each once. */
static cf_err net_set_words(struct con *c, int argc, char **argv, struct board_net *n)
{
	bool gw = false, dns = false;
	const char *why;
	int family;

	for (int i = 1; i < argc;) {
		if (strcmp(argv[i], "gateway") == 0 && !gw && i + 1 < argc) {
			if (board_ip_parse(argv[i + 1], n->gateway, &family, &why) != CF_OK) {
				con_printf(c, "net set: gateway '%.60s': %s; nothing was changed\n",
					   argv[i + 1], why);
				return CF_E_BAD_VALUE;
			}
			gw = true;
			i += 2;
		} else if (strcmp(argv[i], "dns") == 0 && !dns) {
			i++;
			TRY(net_set_dns(c, argc, argv, &i, n));
			dns = true;
		} else {
			con_printf(c, "net set: unexpected '%.40s'\nusage: net set ADDR/PREFIX "
				      "[gateway GW] [dns DNS...]\n", argv[i]);
			return CF_E_INVALID_ARG;
		}
	}
	return CF_OK;
}

static cf_err net_set(struct con *c, int argc, char **argv)
{
	struct board_net n, cur;
	const char *why;
	bool saved;
	int family;
	cf_err rc;

	net_load(c, "net set", &cur, &saved);
	board_net_default(&n);
	n.dhcp = false;
	(void)snprintf(n.hostname, sizeof n.hostname, "%s", cur.hostname);
	memcpy(n.ntp, cur.ntp, sizeof n.ntp); /* time ntp's, kept */
	n.n_ntp = cur.n_ntp;
	if (board_cidr_parse(argv[0], n.address, &n.prefix, &family, &why) != CF_OK) {
		con_printf(c, "net set: address '%.60s': %s; nothing was changed\n", argv[0], why);
		return CF_E_BAD_VALUE;
	}
	if ((rc = net_set_words(c, argc, argv, &n)) != CF_OK)
		return rc;
	return net_commit(c, "net set", "net:set", &n, true);
}

static cf_err net_dhcp(struct con *c, int argc, char **argv)
{
	struct board_net n, cur;
	bool saved;

	(void)argc;
	(void)argv;
	net_load(c, "net dhcp", &cur, &saved);
	board_net_default(&n);
	(void)snprintf(n.hostname, sizeof n.hostname, "%s", cur.hostname);
	memcpy(n.ntp, cur.ntp, sizeof n.ntp); /* time ntp's, kept */
	n.n_ntp = cur.n_ntp;
	return net_commit(c, "net dhcp", "net:dhcp", &n, true);
}

static cf_err net_hostname(struct con *c, int argc, char **argv)
{
	struct board_net n;
	const char *why;
	bool saved;

	(void)argc;
	net_load(c, "net hostname", &n, &saved);
	if (board_hostname_parse(argv[0], n.hostname, &why) != CF_OK) {
		con_printf(c, "net hostname: '%.70s': %s; nothing was changed\n", argv[0], why);
		return CF_E_BAD_VALUE;
	}
	return net_commit(c, "net hostname", "net:hostname", &n, false);
}

/* ---- time ------------------------------------------------------------------------------ */

/* "S1 S2" or "off". */
static void ntp_list_text(const struct board_ntp_server *s, unsigned n, char *out, size_t cap)
{
	char one[BOARD_NTP_TEXT];
	size_t used;

	(void)snprintf(out, cap, "%s", n == 0 ? "off" : "");
	for (unsigned i = 0; i < n; i++) {
		board_ntp_server_format(&s[i], one);
		used = strlen(out);
		(void)snprintf(out + used, cap - used, "%s%s", i ? " " : "", one);
	}
}

/* The sync's state, one "ntp status:" line (and the last error). */
static void ntp_print_status(struct con *c, const struct board_ntp_status *st)
{
	char when[BOARD_TIME_TEXT];

	if (!st->active) {
		con_printf(c, "ntp status: not running%s%s\n", st->error[0] ? ": " : "", st->error);
		return;
	}
	if (st->synced) {
		board_time_format(st->last_sync, when);
		con_printf(c, "ntp status: synchronised with %s at %s: offset %+.3f s (%s), delay "
			      "%.3f s; next poll %u s after the last\n", st->server, when,
			   (double)st->offset_us / 1e6, st->stepped ? "stepped" : "slewed",
			   (double)st->delay_us / 1e6, st->interval_s);
	} else {
		con_printf(c, "ntp status: no answer yet (%u poll%s)\n", st->polls,
			   st->polls == 1 ? "" : "s");
	}
	if (st->error[0] != '\0') {
		board_time_format(st->error_at, when);
		con_printf(c, "ntp last error: %s: %s\n", when, st->error);
	}
}

static cf_err time_show(struct con *c, int argc, char **argv)
{
	char now[BOARD_TIME_TEXT], list[BOARD_NTP_MAX * BOARD_NTP_TEXT + 8];
	struct board_ntp_status st;
	struct board_net n;
	bool saved;

	(void)argc;
	(void)argv;
	/* the sync's status first, then the clock: a step the status reports is in the time shown
	 * (the NTP thread may step the clock while this command runs) */
	board_ntp_status(&c->svc->board, &st);
	board_time_format(con_now(c), now);
	con_printf(c, "time: %s (UTC)\n", now);
	if (!board_clock_settable(&c->svc->board))
		con_printf(c, "(board %s: this is the development machine's clock)\n", board_name());
	net_load(c, "time show", &n, &saved);
	ntp_list_text(n.ntp, n.n_ntp, list, sizeof list);
	con_printf(c, "ntp: %s\n", list);
	if (n.n_ntp > 0 && board_clock_settable(&c->svc->board))
		ntp_print_status(c, &st);
	else if (n.n_ntp > 0)
		con_printf(c, "(board %s: the NTP servers are saved, this machine's clock is not "
			      "changed)\n", board_name());
	return CF_OK;
}

static cf_err time_set(struct con *c, int argc, char **argv)
{
	char now[BOARD_TIME_TEXT], q[160], detail[80];
	const char *why;
	int64_t t;
	cf_err rc;

	(void)argc;
	if (board_time_parse(argv[0], &t, &why) != CF_OK) {
		con_printf(c, "time set: '%.40s': %s; the clock was not changed\n", argv[0], why);
		return CF_E_BAD_VALUE;
	}
	if (!board_clock_settable(&c->svc->board)) {
		con_printf(c, "time set: board %s: this machine's clock is not the appliance's to "
			      "set; the clock was not changed\n", board_name());
		return CF_E_PERMISSION;
	}
	board_time_format(con_now(c), now);
	(void)snprintf(q, sizeof q, "Set the clock from %s to %s? Certificates and TOTP codes "
		       "are checked against it.", now, argv[0]);
	if (!con_confirm(c, q)) {
		con_printf(c, "time set: cancelled; the clock was not changed\n");
		return CF_E_CANCELLED;
	}
	(void)snprintf(detail, sizeof detail, "from %s to %s", now, argv[0]);
	rc = board_clock_set(&c->svc->board, t);
	con_audit(c, "time:set", NULL, rc, detail);
	if (rc == CF_E_PERMISSION)
		con_printf(c, "time set: coffred may not set the clock (it needs CAP_SYS_TIME); the "
			      "clock was not changed\n");
	else if (rc != CF_OK)
		con_printf(c, "time set: failed (%s); the clock was not changed\n", cf_err_str(rc));
	else
		con_printf(c, "time: %s (UTC)\n", argv[0]);
	return rc;
}

/* argv: "off", or 1 to 3 servers -> n->ntp. */
static cf_err time_ntp_args(struct con *c, int argc, char **argv, struct board_net *n)
{
	const char *why = NULL;

	n->n_ntp = 0;
	memset(n->ntp, 0, sizeof n->ntp);
	if (argc == 1 && strcmp(argv[0], "off") == 0)
		return CF_OK;
	for (int i = 0; i < argc; i++) {
		if (board_ntp_server_parse(argv[i], &n->ntp[n->n_ntp], &why) != CF_OK) {
			con_printf(c, "time ntp: '%.60s': %s; nothing was changed\n", argv[i], why);
			return CF_E_BAD_VALUE;
		}
		n->n_ntp++;
	}
	if (board_net_check(n, &why) != CF_OK) {
		con_printf(c, "time ntp: %s; nothing was changed\n", why != NULL ? why : "invalid");
		return CF_E_BAD_VALUE;
	}
	return CF_OK;
}

static cf_err time_ntp(struct con *c, int argc, char **argv)
{
	char list[BOARD_NTP_MAX * BOARD_NTP_TEXT + 8], q[320];
	struct board_net n;
	bool saved;
	cf_err rc;

	net_load(c, "time ntp", &n, &saved);
	TRY(time_ntp_args(c, argc, argv, &n));
	ntp_list_text(n.ntp, n.n_ntp, list, sizeof list);
	if (n.n_ntp == 0)
		(void)snprintf(q, sizeof q, "Turn NTP off? The clock keeps running on its own.");
	else
		(void)snprintf(q, sizeof q, "Synchronise the clock with %s from now on? The first "
			       "answer may step it; certificates and TOTP codes are checked against it.",
			       list);
	if (!con_confirm(c, q)) {
		con_printf(c, "time ntp: cancelled; nothing was changed\n");
		return CF_E_CANCELLED;
	}
	if ((rc = board_net_save(c->svc->cfg->dir, &n)) != CF_OK) {
		con_printf(c, "time ntp: the settings could not be saved (%s); nothing was changed\n",
			   cf_err_str(rc));
		con_audit(c, "time:ntp", NULL, rc, list);
		return rc;
	}
	rc = board_ntp_apply(&c->svc->board, n.ntp, n.n_ntp);
	con_audit(c, "time:ntp", NULL, rc, list);
	if (rc != CF_OK)
		con_printf(c, "time ntp: saved, but not applied now (%s); it applies from the next "
			      "boot\n", cf_err_str(rc));
	else if (!board_clock_settable(&c->svc->board))
		con_printf(c, "ntp: %s: saved in %s/%s (board %s: the clock is not changed)\n", list,
			   c->svc->cfg->dir, BOARD_NET_FILE, board_name());
	else
		con_printf(c, "ntp: %s: saved%s\n", list, n.n_ntp > 0 ? "; synchronising (time show "
			   "says how it goes)" : "; the clock runs on its own");
	return rc;
}

/* ---- power ----------------------------------------------------------------------------- */

static cf_err power_request(struct con *c, enum board_power p)
{
	bool off = p == BOARD_POWER_OFF;

	con_printf(c, "%s stops KMIP (open connections are closed) and the console.\n",
		   off ? "shutdown" : "reboot");
	if (!con_confirm(c, off ? "Stop the key service and power the appliance off?"
				: "Stop the key service and reboot the appliance?")) {
		con_printf(c, "%s: cancelled\n", off ? "shutdown" : "reboot");
		return CF_E_CANCELLED;
	}
	con_audit(c, off ? "power:off" : "power:reboot", NULL, CF_OK, NULL);
	con_printf(c, "stopping the service, then %s...\n", off ? "powering off" : "rebooting");
	board_power_request(&c->svc->board, p);
	return CF_OK;
}

static cf_err power_shutdown(struct con *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return power_request(c, BOARD_POWER_OFF);
}

static cf_err power_reboot(struct con *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return power_request(c, BOARD_POWER_REBOOT);
}

/* ---- the table ------------------------------------------------------------------------- */

#define NET_SHOW_FLAGS (CON_F_UNINIT | CON_F_SEALED | CON_F_AUTH)
#define NET_SET_FLAGS (CON_F_UNINIT | CON_F_AUTH)

const struct con_cmd con_cmds_net[] = {
	{ "net show", 0, 0, NET_SHOW_FLAGS, "net show",
	  "The saved network settings: mode (dhcp or static), address/prefix, gateway, name\n"
	  "servers, hostname. The appliance's init applies them at boot.",
	  net_show },
	{ "net set", 1, 7, NET_SET_FLAGS, "net set ADDR/PREFIX [gateway GW] [dns DNS...]",
	  "Static settings: the address with its prefix length (IPv4 or IPv6), an optional\n"
	  "gateway inside that subnet, up to 3 name servers. Replaces the address, gateway and\n"
	  "name servers saved before (the hostname and NTP servers stay). Asks for\n"
	  "confirmation; applies from the next boot.",
	  net_set },
	{ "net dhcp", 0, 0, NET_SET_FLAGS, "net dhcp",
	  "Take the address, gateway and name servers from DHCP (the hostname and NTP servers\n"
	  "stay). Asks for confirmation; applies from the next boot.",
	  net_dhcp },
	{ "net hostname", 1, 1, NET_SET_FLAGS, "net hostname NAME",
	  "The appliance's hostname: 1 to 63 characters, labels of letters, digits and '-'\n"
	  "separated by dots (saved lowercase). Applies from the next boot; on a fresh\n"
	  "appliance init proposes it for the server certificate.",
	  net_hostname },
	{ "time show", 0, 0, NET_SHOW_FLAGS, "time show",
	  "The board's clock, in UTC; the NTP servers and how the sync goes (the last sync,\n"
	  "its server, offset and delay, or the last error).",
	  time_show },
	{ "time set", 1, 1, NET_SET_FLAGS, "time set YYYY-MM-DDTHH:MM:SSZ",
	  "Set the appliance's clock (UTC) and its RTC. Asks for confirmation. Refused on the\n"
	  "development host, whose clock is not the appliance's.",
	  time_set },
	{ "time ntp", 1, BOARD_NTP_MAX, NET_SET_FLAGS, "time ntp SERVER [SERVER...] | time ntp off",
	  "The NTP servers (up to 3), each an address with an optional port: 192.0.2.1,\n"
	  "192.0.2.1:123, [2001:db8::1]:123 (no names). Saved with the network settings and\n"
	  "applied at once: the first answer steps the clock when it is over 0.5 s off, later\n"
	  "ones slew it; an offset over 1000 s is refused. `off` stops NTP. Asks for\n"
	  "confirmation. On the development host the servers are saved, nothing is applied.",
	  time_ntp },
	{ "reboot", 0, 0, NET_SHOW_FLAGS, "reboot",
	  "Stop the key service cleanly (KMIP, the console, the store) and reboot. Asks for\n"
	  "confirmation.",
	  power_reboot },
	{ "shutdown", 0, 0, NET_SHOW_FLAGS, "shutdown",
	  "Stop the key service cleanly (KMIP, the console, the store) and power off. Asks for\n"
	  "confirmation.",
	  power_shutdown },
	{ 0 },
};
