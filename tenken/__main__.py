"""`python -m tenken`: the same command line as the `tenken` script, for hosts where the venv's bin/ is not on PATH."""

from tenken.agent.cli import main

main()
