"""Command-line interface (Typer). Each domain adds its commands in its own module here."""
