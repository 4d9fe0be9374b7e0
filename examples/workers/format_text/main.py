"""format_text: reads {"text", "case", "squeeze_whitespace"} on stdin and
writes {"text", "words", "characters"} on stdout."""
import json
import sys

args = json.load(sys.stdin)
text = args["text"]
if args.get("squeeze_whitespace", True):
    text = " ".join(text.split())
case = args.get("case", "keep")
if case == "upper":
    text = text.upper()
elif case == "lower":
    text = text.lower()
elif case == "title":
    text = text.title()
json.dump({"text": text, "words": len(text.split()), "characters": len(text)}, sys.stdout)
