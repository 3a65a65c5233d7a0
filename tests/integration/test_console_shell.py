"""The console's line editor and shell over a real pty (docs/console/shell.md): prompts by
state, help, unknown commands, commands refused in this state, an over-long line rejected whole,
Ctrl-C, Backspace / Ctrl-U editing, CR / LF / CR LF, dropped bytes, quoting, a hang-up and a
new connection on the same pty; then, on a READY QA instance: the login gate, logout, and the
idle logout.

    /usr/bin/python3 tests/integration/test_console_shell.py BUILD_DIR
Prints "N passed, M failed" last.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robust_lib as rl          # noqa: E402
import console_lib as cl         # noqa: E402

UNINIT = "coffre(UNINITIALIZED)> "


def fresh_checks(t, build):
    a = cl.Appliance(build, fresh=True, name="shell")
    a.start()
    con = a.console
    banner = con.expect(UNINIT)
    t.check("banner names the state and what to do",
            "State: UNINITIALIZED" in banner and "run init" in banner, banner)

    out = con.cmd("help")
    t.check("help lists what runs now", "  help [COMMAND]\n" in out and "  init" in out
            and "  status" in out, out)
    t.check("help hides what does not run now", "logout" not in out and "keys list" not in out, out)
    out = con.cmd("help logout")
    t.check("help COMMAND: usage, text, and why not now",
            out.startswith("usage: logout\n") and "not available while UNINITIALIZED" in out, out)

    out = con.cmd("frobnicate --now")
    t.check("unknown command", out == "unknown command 'frobnicate'; type help\n", out)
    out = con.cmd("logout")
    t.check("refused in this state, with what to do",
            out == "'logout' is not available while UNINITIALIZED: run init, or backup import "
                   "to restore\n", out)
    out = con.cmd("status extra words")
    t.check("wrong argument count: usage line", out.startswith("usage: status"), out)
    out = con.cmd('help "unbalanced')
    t.check("bad quote: clear message", out.startswith('unbalanced " '), out)

    out = con.cmd("x" * 5000)
    t.check("5000-character line rejected whole",
            out.endswith("\nline too long (max 1024 characters); ignored\n"), out[-200:])
    out = con.cmd("h" * 1100 + " help")
    t.check("an over-long line is not truncated into a command",
            "line too long" in out and "Commands available" not in out, out[-200:])
    out = con.cmd("help")
    t.check("the console answers after an over-long line", "Commands available" in out, out)

    con.send_raw("init\x03")
    out = con.prompt().replace("\r\n", "\n")
    t.check("Ctrl-C cancels the line", out == "init^C\n", out)
    con.send_raw("hepl\x7f\x7flp\r")
    out = con.prompt().replace("\r\n", "\n")
    t.check("Backspace (0x7f) edits the command",
            "\b \b\b \blp\n" in out and "Commands available" in out, out)
    con.send_raw("frob\x08\x08\x08\x08help\r")
    out = con.prompt().replace("\r\n", "\n")
    t.check("Backspace (0x08) edits the command", "Commands available" in out, out)
    con.send_raw("zeroize now\x15help\r")
    out = con.prompt().replace("\r\n", "\n")
    t.check("Ctrl-U erases the line", "Commands available" in out and "zeroize" not in
            out.split("\n", 1)[1], out)
    con.send_raw("\x1b[Ahe\xc3\xa9l\x01p\r")
    out = con.prompt().replace("\r\n", "\n")
    t.check("arrow keys, non-ASCII and control bytes dropped", "Commands available" in out, out)

    con.send_raw("help\r\n")
    con.prompt()
    time.sleep(0.3)
    left = con.drain(0.3)
    t.check("CR LF ends one line, not two", left == "", repr(left))
    con.send_raw("frob\n")
    out = con.prompt().replace("\r\n", "\n")
    t.check("LF alone ends a line", "unknown command 'frob'" in out, out)

    # hang-up: the operator closes the pty; someone opens it again later
    path = con.path
    con.close()
    time.sleep(0.5)
    con2 = cl.Console(path)
    a.console = con2
    out = con2.expect(UNINIT)          # the banner comes when the pty is opened
    t.check("after a hang-up the pty serves a new session",
            "State: UNINITIALIZED" in out, out)
    out = con2.cmd("frob")
    t.check("the new session answers", "unknown command 'frob'" in out, out)
    a.stop()


def ready_checks(t, build):
    a = cl.Appliance(build, name="shell-qa")
    a.set_section("console", {"idle_logout_s": "30"})
    a.start()
    con = a.console
    con.send("")
    con.expect("login: ")
    con.send("help")            # typed at "login: ": a name, not a command
    out = con.expect("Password: ")
    t.check("READY: nothing runs before a login", "Commands available" not in out, out)
    con.send_raw("\x03")
    out = con.expect("login: ")
    t.check("Ctrl-C at Password: goes back to login:", "^C" in out, out)
    a.login()
    con.send("help")
    out = con.expect("coffre> ").replace("\r\n", "\n")
    t.check("READY prompt after login; help lists logout", "  logout\n" in out, out)
    out = con.cmd("init")
    t.check("READY: init refused", "'init' is not available while READY (only while "
            "UNINITIALIZED)" in out, out)
    con.send("logout")
    out = con.expect("login: ").replace("\r\n", "\n")
    t.check("logout ends the session", "%s logged out" % a.admin_user in out, out)
    a.login()
    t0 = time.monotonic()
    out = con.expect("login: ", timeout=45).replace("\r\n", "\n")
    took = time.monotonic() - t0
    t.check("idle logout after [console] idle_logout_s (30 s, the smallest allowed)",
            "idle for 30 s: %s logged out" % a.admin_user in out and 29 < took < 40,
            "%r after %.1f s" % (out, took))
    a.stop()


def main():
    build = rl.parse_build(sys.argv)
    rl.require_built(build)
    t = rl.Tally()
    for checks in (fresh_checks, ready_checks):
        try:
            checks(t, build)
        except (cl.Timeout, RuntimeError) as e:
            t.bad("%s: %s" % (checks.__name__, e))
    t.done()


if __name__ == "__main__":
    main()
