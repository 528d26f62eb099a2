"""tenken (点検): technical-controls auditing for the MHLW guideline 6.0 システム運用編.

The code lives in sibling folders (agent/, collectors/, checks/, config/, hub/) that install as
subpackages of this namespace, so nothing called ``checks`` or ``agent`` lands at the top of site-packages.
"""

__version__ = "0.1.0"
TOOL_NAME = "tenken"
