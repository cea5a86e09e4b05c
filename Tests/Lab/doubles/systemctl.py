#!/usr/bin/python3 -S
"""A systemd double for lab nodes (which have no init system). Installed as
/usr/local/lib/parvester-lab/systemctl.py inside each node, behind the shell front /usr/local/bin/systemctl
(which answers `is-active` itself); state lives in the node's private /var/lib/parvester-systemd.

Units are read from /etc/systemd/system and /usr/local/lib/systemd/system (where RKE2's installer puts
them). Supported: daemon-reload, enable [--now], disable [--now], start [--no-block], stop, restart,
is-active, is-enabled, status, show -p; Type=simple, notify (readiness over NOTIFY_SOCKET, READY=1) and
oneshot (RemainAfterExit); ExecStartPre/ExecStart with the '-' prefix; Environment and EnvironmentFile
(with '-' and %N).

Copied from systemd (systemd.service(5), systemd.unit(5), systemd 252 as on Debian 12):
- Restart= (no, always, on-success, on-failure, on-abnormal) with RestartSec= (default 100ms): a process
  that exits is started again; meanwhile the unit is `activating` with SubState=auto-restart, and
  NRestarts counts the restarts since the last explicit start. A unit that restarts more than
  StartLimitBurst= (5) times within StartLimitIntervalSec= (10s) ends `failed` (Result=start-limit-hit).
  So RKE2 (Restart=always, RestartSec=5s) crash-looping never shows `failed`.
- Conflicts= is symmetric and stops the other unit: starting rke2-agent stops an active rke2-server,
  without complaint, as real systemd does.
"""
import sys

STATE = "/var/lib/parvester-systemd"


def quick_alive(pid):
    import os
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def active_state(name):
    """From the one-line `NAME.active` file ("state type pid supervisor"), which the shell front
    (doubles/systemctl) reads the same way for `is-active`."""
    try:
        with open(f"{STATE}/{name}.active") as f:
            state, kind, pid, supervisor = f.read().split()
    except (OSError, ValueError):
        return "inactive"
    if state in ("active", "activating") and kind != "oneshot":
        # The supervisor records deaths and restarts; but if it was killed, a unit must not look alive
        # unless its process still runs. While the supervisor lives, what it recorded stands.
        if not (quick_alive(int(supervisor)) or quick_alive(int(pid))):
            return "failed"
    return state


import fcntl
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

UNIT_DIRS = ["/etc/systemd/system", "/usr/local/lib/systemd/system"]


def unit_name(name):
    return name if "." in name else name + ".service"


def unit_path(name):
    for directory in UNIT_DIRS:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def parse(name):
    """[Section] Key=Value with repeated keys kept in order."""
    path = unit_path(name)
    if path is None:
        return None
    sections, current = {}, None
    for raw in open(path).read().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif "=" in line and current is not None:
            key, value = line.split("=", 1)
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def get(unit, section, key, default=None):
    values = unit.get(section, {}).get(key)
    return values[-1] if values else default


def state_file(name):
    return os.path.join(STATE, name + ".json")


def read_state(name):
    try:
        with open(state_file(name)) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return {"state": "inactive"}


def write_state(name, **values):
    """Read, update and write under a lock: `systemctl start` and the unit's supervisor both write, and
    an update read before the other's write must not undo it."""
    os.makedirs(STATE, exist_ok=True)
    with open(f"{STATE}/{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = read_state(name)
        state.update(values)
        with open(state_file(name) + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(state_file(name) + ".tmp", state_file(name))
        with open(f"{STATE}/{name}.active.tmp", "w") as f:
            f.write(f"{state['state']} {state.get('type') or '-'} {state.get('pid') or 0} {state.get('supervisor') or 0}\n")
        os.replace(f"{STATE}/{name}.active.tmp", f"{STATE}/{name}.active")


alive = quick_alive


def environment(unit, name):
    env = dict(os.environ)
    for entry in unit.get("Service", {}).get("EnvironmentFile", []):
        optional = entry.startswith("-")
        path = entry.lstrip("-").replace("%N", name.rsplit(".", 1)[0])
        if not os.path.isfile(path):
            if optional:
                continue
            raise SystemExit(f"Failed to load environment file {path}")
        for line in open(path).read().splitlines():
            if "=" in line and not line.strip().startswith("#"):
                key, value = line.split("=", 1)
                env[key.strip()] = value.strip().strip('"')
    for entry in unit.get("Service", {}).get("Environment", []):
        for word in shlex.split(entry):
            if "=" in word:
                key, value = word.split("=", 1)
                env[key] = value
    return env


def command(line):
    ignore = line.startswith("-")
    return ignore, shlex.split(line.lstrip("-@+!"))


def log(name):
    os.makedirs(STATE, exist_ok=True)
    return open(os.path.join(STATE, name + ".log"), "ab")


# ------------------------------------------------------------------------------------------ start

def start(name, block=True):
    unit = parse(name)
    if unit is None:
        print(f"Failed to start {name}: Unit {name} not found.", file=sys.stderr)
        return 5
    for other in conflicting(name, unit):
        if active_state(other) in ("active", "activating"):
            # systemd queues a stop job for the other unit and starts this one: no error, no question.
            stop(other)
    if active_state(name) in ("active", "activating"):
        if read_state(name).get("sub") == "auto-restart":
            write_state(name, restarts=0)  # an explicit start resets the counter, even mid-loop
        return wait_until_started(name) if block else 0
    kind = get(unit, "Service", "Type", "simple")
    if kind == "oneshot":
        return run_oneshot(name, unit)
    # An explicit start resets the restart counter (systemd's flush_n_restarts).
    # Until the supervisor is known, this process stands for it (it lives until the supervisor's PID is written).
    write_state(name, state="activating", sub="start", type=kind, pid=None, supervisor=os.getpid(), result=None, restarts=0)
    supervisor = subprocess.Popen([sys.executable, os.path.abspath(__file__), "__supervise", name], start_new_session=True,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    write_state(name, supervisor=supervisor.pid)
    return wait_until_started(name) if block else 0


def conflicting(name, unit):
    """Conflicts= works both ways: the units this one names, and the units that name this one."""
    names = {unit_name(other) for other in " ".join(unit.get("Unit", {}).get("Conflicts", [])).split()}
    for directory in UNIT_DIRS:
        for entry in (os.listdir(directory) if os.path.isdir(directory) else []):
            if entry.endswith(".service") and entry != name:
                other = parse(entry) or {}
                if name in {unit_name(n) for n in " ".join(other.get("Unit", {}).get("Conflicts", [])).split()}:
                    names.add(entry)
    return sorted(names - {name})


def seconds(text, default):
    """systemd time spans as RKE2's units write them: 5s, 100ms, 2min, or plain seconds."""
    text = (text or "").strip()
    for suffix, factor in (("ms", 0.001), ("min", 60), ("s", 1), ("m", 60)):
        if text.endswith(suffix) and text[:-len(suffix)].replace(".", "", 1).isdigit():
            return float(text[:-len(suffix)]) * factor
    return float(text) if text.replace(".", "", 1).isdigit() else default


def restarts_after(policy, code):
    """Whether Restart= starts the service again after it exited with `code` (negative: a signal)."""
    clean = code == 0
    return {"always": True, "on-success": clean, "on-failure": not clean, "on-abnormal": code < 0}.get(policy, False)


def wait_until_started(name):
    # Like systemd with TimeoutStartSec=0: a notify unit that never becomes ready is waited for forever.
    # The start job ends with the first start: a process that exits fails the job even when Restart= will
    # start it again (the unit then waits in `activating`, SubState=auto-restart).
    while active_state(name) == "activating" and read_state(name).get("sub") != "auto-restart":
        time.sleep(0.1)
    if active_state(name) == "active":
        return 0
    print(f'Job for {name} failed because the control process exited with error code.\n'
          f'See "systemctl status {name}" and "journalctl -xeu {name}" for details.', file=sys.stderr)
    return 1


def run_oneshot(name, unit):
    env = environment(unit, name)
    write_state(name, state="activating", type="oneshot", pid=None)
    with log(name) as output:
        for key in ("ExecStartPre", "ExecStart", "ExecStartPost"):
            for line in unit.get("Service", {}).get(key, []):
                ignore, argv = command(line)
                code = subprocess.call(argv, env=env, stdout=output, stderr=output)
                if code != 0 and not ignore:
                    write_state(name, state="failed", result=f"exit-code {code}")
                    print(f"Job for {name} failed because the control process exited with error code.", file=sys.stderr)
                    return 1
    remain = get(unit, "Service", "RemainAfterExit", "no").lower() in ("yes", "true", "1", "on")
    write_state(name, state="active" if remain else "inactive", result="success")
    return 0


def supervise(name):
    """Runs the unit's process, reports readiness and death, and restarts it as Restart= says (the part
    of systemd that watches services)."""
    unit = parse(name)
    kind = get(unit, "Service", "Type", "simple")
    policy = get(unit, "Service", "Restart", "no")
    delay = seconds(get(unit, "Service", "RestartSec"), 0.1)
    burst = int(get(unit, "Unit", "StartLimitBurst", "5"))
    interval = seconds(get(unit, "Unit", "StartLimitIntervalSec"), 10)
    starts = []
    while True:
        starts = [t for t in starts if time.monotonic() - t < interval] + [time.monotonic()]
        if len(starts) > burst:
            write_state(name, state="failed", sub="failed", result="start-limit-hit", pid=None)
            log_line(name, f"{name}: Start request repeated too quickly.")
            return
        code = run_once(name, unit, kind)
        if code is None or read_state(name)["state"] == "deactivating":
            if read_state(name)["state"] == "deactivating":
                write_state(name, state="inactive", sub="dead", result="success", pid=None)
            return
        if not restarts_after(policy, code):
            write_state(name, state="failed" if code != 0 else "inactive", sub="failed" if code != 0 else "dead",
                        result=f"exit-code {code}" if code >= 0 else f"signal {-code}", pid=None)
            return
        write_state(name, state="activating", sub="auto-restart", result="exit-code" if code > 0 else ("signal" if code < 0 else "success"),
                    pid=None)
        waited = 0.0
        while waited < delay:  # a stop during the wait ends the loop, as systemd cancels the restart job
            if read_state(name)["state"] == "deactivating":
                write_state(name, state="inactive", sub="dead", pid=None)
                return
            time.sleep(min(0.1, delay - waited))
            waited += 0.1
        # As systemd: the counter rises (and is logged) when the restart happens, after RestartSec.
        restarts = read_state(name).get("restarts", 0) + 1
        write_state(name, sub="start", restarts=restarts)
        log_line(name, f"{name}: Scheduled restart job, restart counter is at {restarts}.")


def log_line(name, text):
    with log(name) as output:
        output.write((text + "\n").encode())


def run_once(name, unit, kind):
    """One start of the service: ExecStartPre, then ExecStart until it exits. Returns its exit code
    (negative for a signal), or None when it could not start at all (the unit is then `failed`)."""
    env = environment(unit, name)
    output = log(name)
    for line in unit.get("Service", {}).get("ExecStartPre", []):
        ignore, argv = command(line)
        try:
            code = subprocess.call(argv, env=env, stdout=output, stderr=output)
        except FileNotFoundError:
            code = 127
        if code != 0 and not ignore:
            return code
    notify = None
    if kind == "notify":
        path = os.path.join(STATE, name + ".notify")
        if os.path.exists(path):
            os.remove(path)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(path)
        notify.settimeout(0.2)
        env["NOTIFY_SOCKET"] = path
    _, argv = command(unit["Service"]["ExecStart"][-1])
    try:
        process = subprocess.Popen(argv, env=env, stdout=output, stderr=output, stdin=subprocess.DEVNULL, start_new_session=True)
    except FileNotFoundError:
        write_state(name, state="failed", sub="failed", result="exec 203/EXEC", pid=None)
        return None
    write_state(name, pid=process.pid, state="activating" if notify else "active", sub="start" if notify else "running")
    while process.poll() is None:
        if notify is not None and read_state(name)["state"] == "activating":
            try:
                if b"READY=1" in notify.recv(4096):
                    write_state(name, state="active", sub="running")
            except socket.timeout:
                pass
        else:
            time.sleep(0.2)
    if notify is not None:
        notify.close()
    return process.returncode


def stop(name):
    state = read_state(name)
    pid = state.get("pid")
    supervised = alive(state.get("supervisor"))
    write_state(name, state="deactivating")
    if alive(pid):
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(100):
            if not alive(pid):
                break
            time.sleep(0.1)
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)
    for _ in range(50 if supervised else 0):  # let the supervisor record the end
        if read_state(name)["state"] != "deactivating":
            break
        time.sleep(0.05)
    write_state(name, state="inactive", sub="dead", pid=None)
    return 0


def show(argv):
    """`systemctl show -p A,B [-p C] UNIT...`: Key=Value lines, units separated by a blank line."""
    properties, names, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-p", "--property") and i + 1 < len(argv):
            properties += argv[i + 1].split(","); i += 2; continue
        if arg.startswith("--property="):
            properties += arg.split("=", 1)[1].split(",")
        elif not arg.startswith("-"):
            names.append(unit_name(arg))
        i += 1
    blocks = []
    for name in names:
        state = read_state(name)
        active = active_state(name)
        sub = {"active": "exited" if state.get("type") == "oneshot" else "running", "inactive": "dead", "failed": "failed"}.get(
            active, state.get("sub") or "start")
        values = {"Id": name, "ActiveState": active, "SubState": sub, "NRestarts": str(state.get("restarts", 0)),
                  "Result": (state.get("result") or "success").split()[0], "MainPID": str(state.get("pid") or 0),
                  "LoadState": "loaded" if unit_path(name) else "not-found"}
        blocks.append("\n".join(f"{key}={values.get(key, '')}" for key in (properties or values)))
    print("\n\n".join(blocks))
    return 0


# ----------------------------------------------------------------------------------- enablement

def wants_dir(unit):
    target = get(unit, "Install", "WantedBy", "multi-user.target")
    return os.path.join("/etc/systemd/system", target + ".wants")


def enable(name):
    unit = parse(name)
    if unit is None:
        print(f"Failed to enable unit: Unit file {name} does not exist.", file=sys.stderr)
        return 1
    link = os.path.join(wants_dir(unit), name)
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(unit_path(name), link)
        print(f"Created symlink {link} → {unit_path(name)}.", file=sys.stderr)
    return 0


def disable(name):
    unit = parse(name)
    if unit is None:
        print(f"Failed to disable unit: Unit file {name} does not exist.", file=sys.stderr)
        return 1
    link = os.path.join(wants_dir(unit), name)
    if os.path.islink(link):
        os.remove(link)
        print(f"Removed {link}.", file=sys.stderr)
    return 0


def is_enabled(name, quiet):
    unit = parse(name)
    if unit is None:
        if not quiet:
            print(f"Failed to get unit file state for {name}: No such file or directory", file=sys.stderr)
        return 1
    enabled = os.path.islink(os.path.join(wants_dir(unit), name))
    if not quiet:
        print("enabled" if enabled else "disabled")
    return 0 if enabled else 1


def status(name):
    state = active_state(name)
    print(f"● {name}\n     Active: {state} ({read_state(name).get('result') or 'n/a'})")
    try:
        print("".join(open(os.path.join(STATE, name + ".log"), errors="replace").readlines()[-10:]), end="")
    except FileNotFoundError:
        pass
    return 0 if state == "active" else 3


def main(argv):
    flags = {a for a in argv if a.startswith("-")}
    words = [a for a in argv if not a.startswith("-")]
    if not words:
        print("systemctl (Parvester lab double): give a command", file=sys.stderr)
        return 1
    verb, names = words[0], [unit_name(n) for n in words[1:]]
    quiet = "--quiet" in flags or "-q" in flags
    if verb == "__supervise":
        supervise(names[0])
        return 0
    if verb == "daemon-reload":
        return 0
    if verb == "show":
        return show(argv[argv.index("show") + 1:])
    if verb == "is-active":
        states = [active_state(n) for n in names]
        if not quiet:
            print("\n".join(states))
        return 0 if states and all(s == "active" for s in states) else 3
    if verb == "is-failed":
        states = [active_state(n) for n in names]
        if not quiet:
            print("\n".join(states))
        return 0 if any(s == "failed" for s in states) else 1
    code = 0
    for name in names:
        if verb == "start":
            code = code or start(name, block="--no-block" not in flags)
        elif verb == "stop":
            code = code or stop(name)
        elif verb == "restart":
            stop(name)
            code = code or start(name, block="--no-block" not in flags)
        elif verb == "enable":
            code = code or enable(name)
            if "--now" in flags and code == 0:
                code = start(name, block="--no-block" not in flags)
        elif verb == "disable":
            code = code or disable(name)
            if "--now" in flags:
                stop(name)
        elif verb == "is-enabled":
            code = code or is_enabled(name, quiet)
        elif verb == "status":
            code = code or status(name)
        else:
            print(f"Unknown command verb {verb}.", file=sys.stderr)
            return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
