"""``pgjax explain``: flags, printing, and writing the Markdown file with its figure.

    pgjax explain                       print the walkthrough as plain text
    pgjax explain --format markdown     print it as Markdown
    pgjax explain --write               regenerate docs/log-derivative-trick.md and docs/figures/*.png
    pgjax explain --theta 0.2 --sigma 0.5 --state 1.5 --reward gaussian_bump --seed 3
    pgjax explain --html walkthrough.html   an interactive page: sliders move theta and sigma

A page printed with the default flags is the committed one (its header names `pgjax explain --write`); with
other flags the header names the command that printed it and no figure is linked (the committed figure shows
the default settings), only the command that draws one.

Bad input raises :class:`pgjax.errors.ConfigError` (or :class:`pgjax.cli_support.UsageError` for flags tyro
rejects) before anything is computed or written; the CLI turns either into one line on stderr and exit status 2.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from pgjax.cli_support import UsageError, enable_compilation_cache, print_error, tyro_parse
from pgjax.errors import ConfigError, PgjaxError

DEFAULT_OUT = "docs/log-derivative-trick.md"
FORMATS = ("text", "markdown")
PROG = "pgjax explain"


@dataclasses.dataclass(frozen=True)
class Options:
    """The log-derivative trick worked with numbers: a short walkthrough whose every number pgjax computes as it
    runs (about 20 s on two CPU cores). Prints it, or with --write regenerates docs/log-derivative-trick.md
    and its figure."""

    theta: float = 0.5
    """Policy weight theta; the mean action is mu = theta * s."""
    sigma: float = 1.0
    """Noise size sigma (> 0) of the Gaussian policy a ~ N(mu, sigma^2), held fixed."""
    state: float = 2.0
    """The state s (a nonzero number)."""
    reward: str = "quadratic"
    """Reward r(a): quadratic = -(a - target)^2, linear = a, gaussian_bump = exp(-a^2)."""
    target: float = 2.0
    """Best action of the quadratic reward; also the centre of the all-or-nothing reward of section 5."""
    seed: int = 0
    """Base seed of every random number (>= 0)."""
    n_seeds: int = 128
    """R (>= 8): the seeds behind each measured standard error."""
    format: str = "text"
    """What to print: text or markdown (ignored with --write)."""
    write: bool = False
    """Write the Markdown file (--out) and its figure (figures/ next to it) instead of printing."""
    out: str = DEFAULT_OUT
    """The Markdown file that --write writes."""
    html: str = ""
    """Write an interactive page to this HTML file instead (one self-contained file, no network): sliders
    move theta and sigma, and the density, score, reward, their product and a running estimate redraw from
    numbers pgjax precomputes on a grid around --theta and --sigma."""

    def setup(self):
        from pgjax.explain.numbers import Setup

        fields = {f.name for f in dataclasses.fields(Setup)}
        return Setup(**{k: v for k, v in dataclasses.asdict(self).items() if k in fields})

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field (before anything is computed)."""
        if self.format not in FORMATS:
            raise ConfigError("format", f"must be one of {', '.join(FORMATS)} (got {self.format!r})")
        self.setup().validate()
        if not self.out:
            raise ConfigError("out", "must be a file name")
        if self.html and self.write:
            raise ConfigError("html", "writes the interactive page; run --write separately for the Markdown file")


def figure_name(out: str | os.PathLike[str]) -> str:
    """The figure's path relative to the Markdown file: ``figures/<stem>.png``."""
    return f"figures/{Path(out).stem}.png"


def _flags(options: Options, skip: tuple[str, ...]) -> list[str]:
    """``--name value`` for every field that differs from its default, in field order, except ``skip``."""
    parts: list[str] = []
    defaults = Options()
    for field in dataclasses.fields(Options):
        if field.name in skip:
            continue
        value = getattr(options, field.name)
        if value != getattr(defaults, field.name):
            text = repr(value) if isinstance(value, float) else str(value)
            parts += [f"--{field.name.replace('_', '-')}", text]
    return parts


def _join(parts: Sequence[str]) -> str:
    return " ".join(shlex.quote(p) for p in parts)


def regenerate_command(options: Options) -> str:
    """``pgjax explain --write`` plus every flag that differs from its default (except --format)."""
    return _join([*PROG.split(), "--write", *_flags(options, ("write", "format", "html"))])


def print_command(options: Options) -> str:
    """The command that prints the page: ``pgjax explain`` plus every flag that differs from its default."""
    return _join([*PROG.split(), *_flags(options, ("write", "html"))])


def html_command(options: Options) -> str:
    """The command that writes the interactive page (the flags that change its numbers, and --html)."""
    return _join(
        [*PROG.split(), "--html", options.html, *_flags(options, ("write", "format", "out", "html", "n_seeds"))]
    )


def is_committed_page(options: Options) -> bool:
    """Whether the page these options print or write is docs/log-derivative-trick.md with its flags' numbers:
    the default numbers and file (printing), or any numbers written to that file (--write)."""
    committed_file = Path(options.out) == Path(DEFAULT_OUT)
    return committed_file and (options.write or options.setup() == Options().setup())


def document_for(options: Options, numbers):
    """The walkthrough document for the options, with an honest header: the committed page (and a print of
    it with the default flags) names `pgjax explain --write` and links its figure; any other print names its
    own command and links no figure (the committed one shows the default settings), only the command that
    draws one; a file written elsewhere names its --write command and links the figure written beside it."""
    from pgjax.explain.walkthrough import compose

    if options.write or is_committed_page(options):
        return compose(
            numbers,
            command=regenerate_command(options),
            figure_path=figure_name(options.out),
            checked=is_committed_page(options),
        )
    draw = regenerate_command(options)
    if Path(options.out) == Path(DEFAULT_OUT):  # don't suggest overwriting the committed page
        draw += " --out walkthrough.md"
    return compose(numbers, command=print_command(options), figure_path=None, checked=False, figure_command=draw)


def parse(argv: Sequence[str]) -> Options:
    """Flags -> validated Options; :class:`~pgjax.cli_support.UsageError` or ConfigError on bad input."""
    options = tyro_parse(Options, list(argv), prog=PROG)
    options.validate()
    return options


def options_from_markdown(text: str) -> Options:
    """The options that generated a Markdown file, read back from its first line."""
    first = text.split("\n", 1)[0]
    start = first.find("`")
    end = first.find("`", start + 1)
    if start < 0 or end < 0:
        raise ValueError("no generating command in the first line")
    words = shlex.split(first[start + 1 : end])
    if words[:3] != [*PROG.split(), "--write"]:
        raise ValueError(f"unexpected generating command {first[start + 1 : end]!r}")
    return parse(words[3:])


def check_html_writable(out: str | os.PathLike[str]) -> None:
    """ConfigError("html", ...) unless the HTML file can be written."""
    from pgjax import io as pio

    path = Path(out)
    if path.is_dir():
        raise ConfigError("html", f"{out} is a folder; give a file name such as walkthrough.html")
    try:
        pio.check_writable(path.parent if str(path.parent) else ".")
    except pio.ResultsError as err:
        raise ConfigError("html", str(err)) from None


def check_writable(out: str | os.PathLike[str]) -> None:
    """ConfigError("out", ...) unless the Markdown file and the figures folder next to it can be written."""
    from pgjax import io as pio

    path = Path(out)
    if path.is_dir():
        raise ConfigError("out", f"{out} is a folder; give a file name such as {DEFAULT_OUT}")
    figures = path.parent / Path(figure_name(path)).parent
    try:
        pio.check_writable(path.parent if str(path.parent) else ".")
        pio.check_writable(figures)
    except pio.ResultsError as err:
        raise ConfigError("out", str(err)) from None


def build(options: Options, sizes=None):
    """(numbers, document) for the options (see :func:`document_for` for the header and figure link)."""
    from pgjax.explain.numbers import Sizes, compute

    numbers = compute(options.setup(), sizes or Sizes())
    return numbers, document_for(options, numbers)


def write(numbers, document, out: str | os.PathLike[str]) -> list[Path]:
    """Writes the figure, then the Markdown file, each atomically; returns their paths."""
    from pgjax import io as pio
    from pgjax.explain import figure
    from pgjax.explain.document import render_markdown

    path = Path(out)
    fig_path = path.parent / figure_name(path)
    fig_path.parent.mkdir(parents=True, exist_ok=True)
    pio.atomic_write_bytes(fig_path, figure.draw(numbers))
    pio.atomic_write_text(path, render_markdown(document))
    return [path, fig_path]


def main(argv: Sequence[str]) -> int:
    """``pgjax explain [flags]``; returns the exit status. Raises ConfigError / UsageError on bad input."""
    options = parse(argv)
    if options.html:
        check_html_writable(options.html)
        enable_compilation_cache()
        from pgjax import io as pio
        from pgjax.explain import explorer, page

        grid = explorer.compute(options.setup())
        pio.atomic_write_text(Path(options.html), page.render(grid, command=html_command(options)))
        print(f"wrote {options.html}")
        return 0
    if options.write:
        check_writable(options.out)
    from pgjax.explain.document import render_markdown, render_text

    enable_compilation_cache()
    numbers, document = build(options)
    if options.write:
        for path in write(numbers, document, options.out):
            print(f"wrote {path}")
    elif options.format == "markdown":
        sys.stdout.write(render_markdown(document))
    else:
        folder = str(Path(options.out).parent)
        root = f"{folder}/" if folder != "." else ""
        sys.stdout.write(render_text(document, figure_root=root, figure_note=", drawn by --write"))
    return 0


def run(argv: Sequence[str]) -> int:
    """:func:`main` with the CLI's error handling (for ``python -m pgjax.explain``)."""
    try:
        return main(argv)
    except (UsageError, PgjaxError) as exc:
        return print_error(str(exc))
    except KeyboardInterrupt:
        print("pgjax: interrupted; files are written atomically, none was left half-written", file=sys.stderr)
        return 130
