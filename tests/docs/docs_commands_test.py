#!/usr/bin/env python3
"""The commands the docs show and the commands the programs accept must be the same.

Reads README.md and docs/*.md and collects each `wardenctl ...`, `wardend ...` and
`warden-controller ...` command line shown:

  - in fenced code blocks (except yaml and json), as shell: continuation lines joined, pipes,
    `&&`, `;` and redirections understood; the options named in a line's trailing comment
    ("# or: --seal shamir --shares 5") are options of that line's command;
  - in inline code spans that start with one of the three programs, or with a wardenctl command
    group (`vault metadata`, `ca keys --tier 0`);
  - in the first column of a table whose first header cell is "command" (the operator guide's
    table of wardenctl commands, written without the program name).

Each command is walked through the built program's own `--help` (CLI11), level by level:

  1. every word in a subcommand position must be a subcommand of the level above, a command that
     takes no positional argument is given none, and every -x/--flag must be an option of the
     level it appears at (CLI11 does not pass an unknown option up: `wardenctl sessions --json`
     is refused, `wardenctl --json sessions` is not); an option that takes a value skips a word;
  2. every subcommand and every option the programs accept must be shown at least once (an option
     or command added without a word in the docs is drift too).

Placeholders the docs use are understood: [optional parts], `...`, `a|b` and `a/b` alternatives
in a subcommand position (inline and tables only), and `--` (what follows belongs to another
program). Positional arguments are not checked beyond their presence: their names are
placeholders.

Usage: docs_commands_test.py SOURCE_DIR wardenctl=PATH wardend=PATH warden-controller=PATH
       docs_commands_test.py --self-test wardenctl=PATH wardend=PATH warden-controller=PATH
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

PROGRAMS = ("wardenctl", "wardend", "warden-controller")

# Commands whose words after the first positional belong to another program. CLI11's
# prefix_command() does not show in --help, so they are named here: `wardenctl ssh LOGIN@HOST
# [--] COMMAND...` hands the rest to ssh.
PASSTHROUGH = {("wardenctl", "ssh")}

# Words in front of a program that are not the program: environment assignments and wrappers.
WRAPPERS = {"sudo", "env", "exec", "time", "nohup"}

TYPE_RE = re.compile(r"^[A-Z][A-Z_]*(:\S*)?(=.*)?$")
PROGRAM_WORD_RE = re.compile(r"(^|[\s|;&(])(\S*/)?(%s)(\s|$)" % "|".join(map(re.escape, PROGRAMS)))
# An inline code span: no backtick inside, may wrap onto the next line, never across a blank one.
SPAN_RE = re.compile(r"`((?:[^`\n]|\n(?![ \t]*\n))+)`")
HELP = ("-h", "--help")


class Level:
    """One level of a program's command tree, from its --help."""

    def __init__(self, text):
        self.options = {}  # name -> (takes a value, the name it is counted under)
        self.subcommands = set()
        self.positionals = False
        section = None
        for line in text.splitlines():
            if line and not line[0].isspace() and line.rstrip().endswith(":"):
                section = line.strip().rstrip(":")
                continue
            if not line.startswith("  ") or line.startswith("   "):
                continue  # not an entry (a wrapped description is indented further)
            left = re.split(r"\s{2,}", line.strip())[0].split()
            if not left:
                continue
            if section == "Options" and left[0].startswith("-"):
                takes_value = len(left) > 1 and bool(TYPE_RE.match(left[1]))
                names = left[0].split(",")
                for name in names:
                    self.options[name] = (takes_value, names[-1])
            elif section == "Subcommands":
                self.subcommands.add(left[0])
            elif section == "Positionals":
                self.positionals = True


class Programs:
    def __init__(self, paths):
        self.paths = paths
        self.levels = {}
        self.home = tempfile.mkdtemp(prefix="docs-commands-")

    def level(self, program, path):
        key = (program,) + tuple(path)
        if key not in self.levels:
            env = dict(os.environ, HOME=self.home, WARDEN_HOME=self.home)
            r = subprocess.run([self.paths[program], *path, "--help"], capture_output=True,
                               text=True, env=env, timeout=30)
            if r.returncode != 0:
                raise RuntimeError("%s --help failed (%d): %s" % (" ".join([program, *path]),
                                                                 r.returncode, r.stderr.strip()))
            self.levels[key] = Level(r.stdout)
        return self.levels[key]

    def everything(self, program, path=()):
        """Every (program, path, option) the program accepts; option None names the path."""
        level = self.level(program, list(path))
        out = {(program, path, None)} if path else set()
        out |= {(program, path, canon) for name, (_, canon) in level.options.items()
                if name not in HELP}
        for sub in level.subcommands:
            out |= self.everything(program, path + (sub,))
        return out


class Checked:
    """What a set of command lines showed, and what was wrong with them."""

    def __init__(self):
        self.problems = []
        self.shown = set()  # (program, path, option or None)
        self.count = 0


def check_words(programs, program, words, comment_flags, alternatives, out):
    """Walks `program words...`; adds problems (strings) and what it showed to `out`."""
    problems = []

    def note_option(level, path, named, name):
        if name not in level.options:
            known = ", ".join(sorted(n for n in level.options if n not in HELP))
            problems.append("`%s` does not accept %s (it accepts: %s)" %
                            (named, name, known or "no options"))
            return None
        takes_value, canon = level.options[name]
        out.shown.add((program, tuple(path), canon))
        return takes_value

    def walk(path, i):
        level = programs.level(program, path)
        named = " ".join([program, *path])
        positional_seen = False
        while i < len(words):
            w = words[i].strip("[]")
            if w == "--":
                break
            if w in ("", "...", "\u2026"):
                i += 1
                continue
            if w.startswith("-") and len(w) > 1 and not re.match(r"^-\d", w):
                takes_value = note_option(level, path, named, w.split("=", 1)[0])
                if takes_value is None:  # unknown: a word after it is taken as its value
                    nxt = words[i + 1].strip("[]") if i + 1 < len(words) else "-"
                    takes_value = not nxt.startswith("-")
                i += 2 if takes_value and "=" not in w else 1
                continue
            if level.subcommands and not positional_seen:
                if w in level.subcommands:
                    path = path + [w]
                    out.shown.add((program, tuple(path), None))
                    level = programs.level(program, path)
                    named = " ".join([program, *path])
                    i += 1
                    continue
                parts = re.split(r"[|/]", w) if alternatives else [w]
                if len(parts) > 1 and all(p in level.subcommands for p in parts):
                    for p in parts:
                        out.shown.add((program, tuple(path + [p]), None))
                        walk(path + [p], i + 1)
                    return
                if not level.positionals:
                    problems.append("`%s` has no subcommand %r (it has: %s)" %
                                    (named, w, ", ".join(sorted(level.subcommands))))
                    return
            if (program, *path) in PASSTHROUGH:
                break
            if not level.positionals and not level.subcommands:
                problems.append("`%s` takes no positional argument, but is given %r" % (named, w))
            positional_seen = True
            i += 1
        for flag in comment_flags:
            note_option(level, path, named, flag)

    walk([], 0)
    return problems


def shell_commands(line):
    """The commands of one shell line, as (program, words, options named in its comment)."""
    comment = ""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    tokens = []
    for t in lexer:  # shlex keeps quotes, so a '#' inside them is not a comment
        if t.startswith("#"):
            rest = lexer.instream.read()
            comment = t + " " + rest
            break
        tokens.append(t)
    flags = [f.strip("(),;:.") for f in comment.split() if re.match(r"^\(?--?[a-z]", f)]
    segments, current, skip = [], [], False
    for t in tokens:
        if skip:
            skip = False
            continue
        if t and all(c in "<>&|;()" for c in t):
            if "<" in t or ">" in t:
                skip = True  # a redirection and its target
            else:
                segments.append(current)
                current = []
            continue
        current.append(t)
    segments.append(current)
    found = []
    for seg in segments:
        while seg and (seg[0] in WRAPPERS or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", seg[0])):
            seg = seg[1:]
        if seg and seg[0] == "runuser" and "--" in seg:  # runuser -u USER -- COMMAND
            seg = seg[seg.index("--") + 1:]
        if seg and os.path.basename(seg[0]) in PROGRAMS:
            found.append([os.path.basename(seg[0]), seg[1:], []])
    if found:
        found[-1][2] = flags  # the comment explains the line's last command
    return [tuple(f) for f in found]


def inline_command(span, implied_program=None):
    try:
        words = shlex.split(span, posix=True)
    except ValueError:
        words = span.split()
    if not words:
        return None
    if words[0] in PROGRAMS:
        return words[0], words[1:]
    if implied_program:
        return implied_program, words
    return None


def commands_in(text, groups=()):
    """(line, shown text, program, words, comment flags, alternatives allowed) per command.

    `groups`: wardenctl subcommands that have subcommands of their own (`vault`, `ca`, ...); a
    span such as `vault metadata` is checked as `wardenctl vault metadata`.
    """
    out = []
    fence = None  # the info string of the open fenced block
    pending, pending_line = "", 0
    command_table = False
    prose = []  # the lines outside code blocks and tables, others blanked (for spans that wrap)

    def implied(span, first_column):
        if first_column:
            return "wardenctl"
        words = span.split()
        return "wardenctl" if len(words) > 1 and words[0] in groups else None

    for n, line in enumerate(text.splitlines(), 1):
        prose.append("")
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip().lower()
            continue
        if fence is not None:
            if fence in ("yaml", "yml", "json"):
                continue
            if not pending:
                pending_line = n
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
                continue
            joined, pending = pending + stripped, ""
            if not PROGRAM_WORD_RE.search(joined):
                continue
            try:
                for program, words, flags in shell_commands(joined):
                    out.append((pending_line, joined, program, words, flags, False))
            except ValueError as e:
                out.append((pending_line, joined, None, str(e), [], False))
            continue
        if not stripped.startswith("|"):
            command_table = False
            prose[-1] = line
            continue
        # A table row: its spans, one cell at a time.
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", stripped.strip("|"))]
        if cells and cells[0] == "command":
            command_table = True
            continue
        for i, cell in enumerate(cells):
            for m in SPAN_RE.finditer(cell):
                span = m.group(1).replace("\\|", "|")
                cmd = inline_command(span, implied(span, command_table and i == 0))
                if cmd:
                    out.append((n, span, cmd[0], cmd[1], [], True))
    joined = "\n".join(prose)
    for m in SPAN_RE.finditer(joined):
        span = " ".join(m.group(1).split())
        cmd = inline_command(span, implied(span, False))
        if cmd:
            out.append((joined.count("\n", 0, m.start()) + 1, span, cmd[0], cmd[1], [], True))
    return sorted(out, key=lambda c: c[0])


def check_text(programs, name, text, out):
    root = programs.level("wardenctl", [])
    groups = {g for g in root.subcommands if programs.level("wardenctl", [g]).subcommands}
    for line, shown, program, words, flags, alternatives in commands_in(text, groups):
        if program is None:
            out.problems.append("%s:%d: cannot parse `%s`: %s" % (name, line, shown, words))
            continue
        out.count += 1
        for p in check_words(programs, program, words, flags, alternatives, out):
            out.problems.append("%s:%d: `%s`: %s" % (name, line, shown, p))


def not_shown(programs, out):
    missing = []
    for program in PROGRAMS:
        for prog, path, option in sorted(programs.everything(program),
                                         key=lambda x: (x[1], x[2] or "")):
            if (prog, path, option) not in out.shown:
                missing.append(" ".join([prog, *path] + ([option] if option else [])))
    return missing


def parse_programs(args):
    paths = {}
    for a in args:
        program, _, path = a.partition("=")
        if program not in PROGRAMS or not path:
            sys.exit("expected PROGRAM=PATH for one of %s, got %r" % (", ".join(PROGRAMS), a))
        paths[program] = path
    missing = set(PROGRAMS) - set(paths)
    if missing:
        sys.exit("missing PROGRAM=PATH for: " + ", ".join(sorted(missing)))
    return Programs(paths)


# The checker must see drift, not only pass: each line of BAD must be reported, no line of GOOD.
SELF_TEST_GOOD = """\
```sh
wardenctl --json sessions --user adm-x --since 24h   # global option before the subcommand
wardenctl ssh -p 2222 adm-alice-7k2f@db1 -- sudo -n true --not-ours
echo x | wardenctl vault put kv/a && wardenctl recordings export s-1 -o s.cast
warden-controller init --data-dir /d --policy p.yaml \\
    --seal pkcs11        # or: --seal shamir --shares 5 --threshold 3 (prints the shares)
wardend --config /etc/warden/host.yaml configure-host --etc /tmp/etc --merge
```
Inline: `wardenctl operator status|unseal|seal`, `wardend enroll --hostname`, `vault
metadata`.

| command | who |
|---|---|
| `recordings export/verify`, `join ID [--mode moderator]` | x |
"""
SELF_TEST_BAD = """\
```sh
wardenctl sessions --json
wardenctl ssh --ssh-options x adm@db1
wardenctl recordings replay s-1
warden-controller serve --data-dir /d
wardend enroll --host db1
wardenctl grants g-1
wardenctl vault delete kv/a    # or with --version 2
```
`wardenctl vault get|peek` and `vault peek kv/a`

| command | who |
|---|---|
| `grants [--mine]` | x |
"""


def self_test(programs):
    failures = []
    good = Checked()
    check_text(programs, "good", SELF_TEST_GOOD, good)
    if good.problems or good.count != 11:
        failures.append("good text: %d checked (expected 11), problems: %s" %
                        (good.count, good.problems))
    expect_shown = {("warden-controller", ("init",), "--threshold"),
                    ("wardenctl", ("vault", "metadata"), None),
                    ("wardenctl", ("operator", "unseal"), None),
                    ("wardenctl", (), "--json"),
                    ("wardenctl", ("recordings", "export"), "--output")}
    if not expect_shown <= good.shown:
        failures.append("good text: not counted as shown: %s" % (expect_shown - good.shown))
    missing = not_shown(programs, good)
    if "wardenctl whoami" not in missing or "wardenctl sessions --user" in missing:
        failures.append("good text: wrong not-shown list: %s" % missing)
    bad = Checked()
    check_text(programs, "bad", SELF_TEST_BAD, bad)
    lines = sorted({int(p.split(":")[1]) for p in bad.problems})
    if lines != [2, 3, 4, 5, 6, 7, 8, 10, 14] or len(bad.problems) != 10:
        failures.append("bad text: reported lines %s, expected [2, 3, 4, 5, 6, 7, 8, 10 (twice), "
                        "14]:\n  %s" % (lines, "\n  ".join(bad.problems)))
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("ok: the checker passes good command lines and reports each drifted one")
    return 1 if failures else 0


def main(argv):
    if len(argv) > 1 and argv[1] == "--self-test":
        return self_test(parse_programs(argv[2:]))
    if len(argv) < 2:
        sys.exit(__doc__)
    root = argv[1]
    programs = parse_programs(argv[2:])
    files = ["README.md"] + sorted(os.path.join("docs", f)
                                   for f in os.listdir(os.path.join(root, "docs")) if f.endswith(".md"))
    out = Checked()
    for f in files:
        with open(os.path.join(root, f), encoding="utf-8") as fh:
            check_text(programs, f, fh.read(), out)
    problems = list(out.problems)
    if out.count < 50:
        problems.append("only %d command lines found in %s: is the extraction broken?" %
                        (out.count, ", ".join(files)))
    for m in not_shown(programs, out):
        problems.append("`%s` is accepted but shown in no command line of README.md or docs/*.md"
                        % m)
    for p in problems:
        print(p)
    print("%d command lines in %d files checked, %d problem(s)" % (out.count, len(files), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
