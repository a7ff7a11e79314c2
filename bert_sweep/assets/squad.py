"""Read SQuAD v1.1 JSON into examples split into whitespace tokens, as the MLPerf reference does.

The reference (`read_squad_examples` in the BERT reference's create_squad_data.py) splits each
context on whitespace and keeps, per character, the index of the word it belongs to; answers are
located by character offset. We reproduce that exactly because the windowing built on top of it
decides the feature count (10,833 for the dev set).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bert_sweep.errors import AssetError


@dataclass
class SquadExample:
    qas_id: str
    question_text: str
    doc_tokens: list[str]
    answers: list[str] = field(default_factory=list)  # every gold answer text (for EM/F1)
    # Training targets (word indices into doc_tokens) of the first answer; None for evaluation.
    start_position: int | None = None
    end_position: int | None = None


def _is_whitespace(c: str) -> bool:
    return c in " \t\r\n" or ord(c) == 0x202F


def split_context(context: str) -> tuple[list[str], list[int]]:
    """Split on whitespace; return words and, for each character, the index of its word."""
    doc_tokens: list[str] = []
    char_to_word_offset: list[int] = []
    prev_is_whitespace = True
    for c in context:
        if _is_whitespace(c):
            prev_is_whitespace = True
        else:
            if prev_is_whitespace:
                doc_tokens.append(c)
            else:
                doc_tokens[-1] += c
            prev_is_whitespace = False
        char_to_word_offset.append(len(doc_tokens) - 1)
    return doc_tokens, char_to_word_offset


def parse_squad(
    data: dict, source: str = "<dict>", is_training: bool = False
) -> list[SquadExample]:
    """Turn a parsed SQuAD v1.1 document into examples; malformed structure raises AssetError."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise AssetError(f"{source}: expected a SQuAD v1.1 JSON object with a 'data' list")
    examples: list[SquadExample] = []
    for a, article in enumerate(data["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise AssetError(f"{source}: data[{a}] has no 'paragraphs' list")
        for p, paragraph in enumerate(paragraphs):
            where = f"{source}: data[{a}].paragraphs[{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str):
                raise AssetError(f"{where}: expected a 'context' string")
            if not isinstance(paragraph.get("qas"), list):
                raise AssetError(f"{where}: expected a 'qas' list")
            context = paragraph["context"]
            doc_tokens, char_to_word = split_context(context)
            for q, qa in enumerate(paragraph["qas"]):
                try:
                    qas_id = str(qa["id"])
                    question = qa["question"]
                    answers = qa["answers"]
                    texts = [ans["text"] for ans in answers]
                except (KeyError, TypeError) as exc:
                    raise AssetError(
                        f"{where}.qas[{q}]: expected 'id', 'question' and 'answers' "
                        f"with 'text' (missing {exc})"
                    ) from None
                example = SquadExample(qas_id, question, doc_tokens, answers=texts)
                if is_training:
                    if not answers:
                        raise AssetError(f"{where}.qas[{q}]: training example has no answer")
                    first = answers[0]
                    start_char = int(first["answer_start"])
                    end_char = start_char + len(first["text"]) - 1
                    if not (0 <= start_char <= end_char < len(context)):
                        raise AssetError(f"{where}.qas[{q}]: answer_start out of the context")
                    example.start_position = char_to_word[start_char]
                    example.end_position = char_to_word[end_char]
                examples.append(example)
    if not examples:
        raise AssetError(f"{source}: no questions found (expected SQuAD v1.1 'data' with 'qas')")
    return examples


def load_squad(path: Path, is_training: bool = False) -> list[SquadExample]:
    """Load a SQuAD v1.1 JSON file; a truncated or malformed file is reported by name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AssetError(f"{path}: dataset file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AssetError(f"{path}: cannot read dataset ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AssetError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); truncated download?"
        ) from None
    return parse_squad(data, source=str(path), is_training=is_training)
