"""How clips.json was made: clip-length single-speaker passages from Rev16 podcast transcripts.

Run with the path of a checkout of github.com/revdotcom/speech-datasets; prints JSON to stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys

REPO = "revdotcom/speech-datasets"
FOLDER = "rev16/nonverbatim_transcripts/nlp_references"
LICENCE = "CC BY-SA 4.0 (rev16/LICENSE.md)"


def turns(nlp: str) -> list[tuple[str, str]]:
    """(speaker, text) runs of one speaker, punctuation restored."""
    out: list[tuple[str, list[str]]] = []
    for row in nlp.splitlines()[1:]:
        cols = row.split("|")
        if len(cols) < 6:
            continue
        token, speaker, punct, prepunct = cols[0], cols[1], cols[4], cols[5]
        if not out or out[-1][0] != speaker:
            out.append((speaker, []))
        out[-1][1].append(f"{prepunct}{token}{punct}")
    return [(s, " ".join(words)) for s, words in out]


def sentences_prefix(text: str, low: int, high: int) -> str:
    """The longest run of whole sentences from the start of `text` with low..high words, or ''."""
    kept: list[str] = []
    best = ""
    for word in text.split():
        kept.append(word)
        if word[-1:] in ".?!" and low <= len(kept) <= high:
            best = " ".join(kept)
        if len(kept) > high:
            break
    return best


def main(checkout: str) -> None:
    git = ["git", "-C", checkout]
    commit = subprocess.check_output([*git, "rev-parse", "HEAD"], text=True).strip()
    names = subprocess.check_output([*git, "ls-tree", "--name-only", f"HEAD:{FOLDER}"], text=True).split()
    clips, short = [], []
    for name in sorted(names, key=lambda n: int(n.split(".")[0])):
        path = f"{FOLDER}/{name}"
        nlp = subprocess.check_output([*git, "show", f"HEAD:{path}"], text=True)
        taken = 0
        for _speaker, text in turns(nlp)[2:]:
            passage = sentences_prefix(text, 60, 260)
            if passage and taken < 2 and not any(c["text"] == passage for c in clips):
                clips.append({"id": f"rev16-{name.split('.')[0]}-{len(clips)}", "text": passage})
                taken += 1
            words = text.split()
            known = [s["text"] for s in short]
            if 2 <= len(words) <= 6 and text[-1:] in ".?!" and len(short) < 4 and text not in known:
                short.append({"id": f"rev16-{name.split('.')[0]}-short{len(short)}", "text": text, "too_short": True})
        for clip in clips[-taken:] if taken else []:
            clip["origin"] = {"repo": REPO, "path": path, "commit": commit}
            clip["licence"] = LICENCE
        for clip in short:
            clip.setdefault("origin", {"repo": REPO, "path": path, "commit": commit})
            clip.setdefault("licence", LICENCE)
    json.dump({"clips": [*clips, *short]}, sys.stdout, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1])
