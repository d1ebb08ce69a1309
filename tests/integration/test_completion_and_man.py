"""The man page and the bash/zsh completions tell the same story as --help:
every command `keyhole --help` lists and every option a command's --help
names appears in docs/keyhole.1, is offered by the bash completion (run in a
real bash) and is named in the zsh completion. `make install` puts all three
where man, bash-completion and zsh look for them. The man page renders
without groff warnings."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO

MAN = os.path.join(REPO, "docs", "keyhole.1")
BASH = os.path.join(REPO, "completions", "keyhole.bash")
ZSH = os.path.join(REPO, "completions", "_keyhole")
OPT_RE = re.compile(r"(?<![\w-])(--?[A-Za-z][A-Za-z0-9-]*)")


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=20, **kw)


def commands(keyhole_bin):
    out = run(keyhole_bin, "--help").stdout
    block = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    cmds = [line.split()[0] for line in block.splitlines() if line.strip()]
    assert "log" in cmds and "proxy" in cmds and len(cmds) >= 12, cmds
    return cmds


def options(keyhole_bin, cmd):
    """Options a command's --help defines: in its Usage lines and its option lines."""
    text = run(keyhole_bin, "help", cmd).stdout
    found = set()
    usage = text.split("\n\n", 1)[0]
    for tok in OPT_RE.findall(usage):
        found.add(tok)
    for line in text.splitlines():
        m = re.match(r"\s{2,}((?:-[A-Za-z], )?--?[A-Za-z][\w-]*)", line)
        if m:
            found.update(OPT_RE.findall(m.group(1)))
    found.discard("--")
    return sorted(found)


def roff(opt):
    return opt.replace("-", "\\-")


def test_help_lists_are_found(keyhole_bin):
    # the extraction itself must see what is there, or the checks below prove nothing
    assert options(keyhole_bin, "log") == ["--denied", "--file", "--follow", "--home", "--json",
                                           "-f"]
    assert "--env-file" in options(keyhole_bin, "docker")
    assert "--add-host" not in options(keyhole_bin, "docker")   # docker's, not ours
    assert {"-X", "--method", "-H", "--header", "--new-conn"} <= set(options(keyhole_bin,
                                                                             "bench"))


def test_man_page_covers_help(keyhole_bin):
    man = open(MAN).read()
    for cmd in commands(keyhole_bin):
        assert re.search(rf'^\.SS "keyhole [^"]*\b{cmd}\b', man, re.M), \
            f"man page has no section for `keyhole {cmd}`"
        for opt in options(keyhole_bin, cmd):
            assert roff(opt) in man, f"man page lacks {opt} of `keyhole {cmd}`"
    for opt in ("--help", "--version", "-V"):
        assert roff(opt) in man


def test_man_page_renders_cleanly():
    if shutil.which("groff") is None:
        pytest.skip("groff not installed")
    r = run("groff", "-man", "-Tutf8", "-ww", "-z", MAN)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = run("groff", "-man", "-Tutf8", MAN).stdout
    assert "keyhole log" in re.sub(r".\x08", "", text)


def bash_complete(words):
    """COMPREPLY of the installed-style completion for the command line words."""
    line = " ".join(words)
    script = (f"source {BASH}\n"
              f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}\n"
              "_keyhole\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    r = run("bash", "--norc", "--noprofile", "-c", script)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_bash_completion_offers_every_command_and_option(keyhole_bin):
    if shutil.which("bash") is None:
        pytest.skip("bash not installed")
    cmds = commands(keyhole_bin)
    offered = bash_complete(["keyhole", "''"])
    assert set(cmds) <= offered, set(cmds) - offered
    assert bash_complete(["keyhole", "lo"]) == {"log"}
    for cmd in cmds:
        words = ["keyhole", cmd, "-"]
        if cmd in ("docker", "podman"):
            words = ["keyhole", cmd, "args", "-"]
        got = bash_complete(words)
        missing = set(options(keyhole_bin, cmd)) - got
        assert not missing, f"bash completion of `keyhole {cmd}` lacks {sorted(missing)}"
    assert bash_complete(["keyhole", "docker", "''"]) == {"args", "run"}
    assert bash_complete(["keyhole", "podman", "''"]) == {"args", "run"}
    assert bash_complete(["keyhole", "proxy", "--log-level", "''"]) == {"debug", "info", "warn",
                                                                         "error"}


def test_zsh_completion_names_every_command_and_option(keyhole_bin):
    zsh = open(ZSH).read()
    assert zsh.startswith("#compdef keyhole")
    for cmd in commands(keyhole_bin):
        assert re.search(rf"'{cmd}:", zsh), f"zsh completion lacks command {cmd}"
        block = re.search(rf"^\s+(?:[\w|]*\|)?{cmd}(?:\|[\w|]*)?\)\n(.*?)(?=;;)", zsh, re.M | re.S)
        assert block, f"zsh completion has no case for {cmd}"
        for opt in options(keyhole_bin, cmd):
            body = block.group(1)
            assert opt in body or (opt == "--home" and "$home" in body), \
                f"zsh completion of `keyhole {cmd}` lacks {opt}"
    if shutil.which("zsh"):
        r = run("zsh", "-n", ZSH)
        assert r.returncode == 0, r.stderr


def test_make_install_places_man_and_completions(tmp_path):
    dest = tmp_path / "root"
    r = run("make", "-C", REPO, "--no-print-directory", "install", f"DESTDIR={dest}",
            "PREFIX=/usr")
    assert r.returncode == 0, r.stdout + r.stderr
    for rel in ("usr/bin/keyhole", "usr/share/man/man1/keyhole.1",
                "usr/share/bash-completion/completions/keyhole",
                "usr/share/zsh/site-functions/_keyhole"):
        assert (dest / rel).is_file(), rel
    assert open(dest / "usr/share/man/man1/keyhole.1").read() == open(MAN).read()
