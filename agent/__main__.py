"""`python -m tenken.agent`: the `tenken` command line."""

from tenken.agent.cli import main

main()
