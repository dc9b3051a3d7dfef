"""Print the first fenced block of a language under a README heading.

Usage: python readme_block.py LANG HEADING
"""

import re
import sys
from pathlib import Path

language, heading = sys.argv[1], sys.argv[2]
text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
block = re.search(rf"^```{language}\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
if block is None:
    sys.exit(f"README.md has no {language} block under '## {heading}'")
print(block.group(1), end="")
