__version__ = "0.1.0"


def version_line() -> str:
    """What `optout --version` prints, whichever way it is reached (optout.entry, the Typer option)."""
    return f"optout {__version__}"
