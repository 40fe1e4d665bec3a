"""The simulator's pictures: procedural drawing from prompts, edits, and pixel analysis."""
