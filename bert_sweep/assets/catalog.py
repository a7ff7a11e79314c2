"""The official files of the MLPerf BERT benchmark: where they live and their checksums.

URLs and md5 sums are those MLPerf publishes (the reference's README and download scripts); the
dataset's size is that of the published dev-v1.1.json. Sizes we do not know to the byte are None,
which only disables the size-based search in mirror folders.
"""

from __future__ import annotations

from dataclasses import dataclass

from bert_sweep.errors import field_error


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: cached as `<cache_dir>/<name>` and verified by md5."""

    name: str
    url: str
    md5: str
    size: int | None
    description: str


SQUAD_DEV = RemoteFile(
    name="dev-v1.1.json",
    url="https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json",
    md5="3e85deb501d4e538b6bc56f786231552",
    size=4_854_279,
    description="SQuAD v1.1 dev set (10,570 questions), the MLPerf BERT evaluation data",
)

VOCAB = RemoteFile(
    name="vocab.txt",
    url="https://zenodo.org/record/3733868/files/vocab.txt?download=1",
    md5="64800d5d8528ce344256daf115d4965e",
    size=231_508,
    description="BERT uncased WordPiece vocabulary (30,522 tokens)",
)

BERT_LARGE_FP32 = RemoteFile(
    name="model.onnx",
    url="https://zenodo.org/record/3733910/files/model.onnx?download=1",
    md5="819b25b19cd8e59080c10892689750ca",
    size=None,  # about 1.34 GB
    description="MLPerf BERT-large fp32 ONNX fine-tuned on SQuAD v1.1 (reference F1 90.874)",
)

BERT_LARGE_INT8 = RemoteFile(
    name="bert_large_v1_1_fake_quant.onnx",
    url="https://zenodo.org/record/3750364/files/bert_large_v1_1_fake_quant.onnx?download=1",
    md5="45f88ffb2915362242703c85c38ec2d4",
    size=None,
    description="MLPerf BERT-large int8 fake-quantized ONNX (F1 90.067)",
)

BERT_LARGE_PYTORCH = RemoteFile(
    name="model.pytorch",
    url="https://zenodo.org/record/3733896/files/model.pytorch?download=1",
    md5="00fbcbfaebfa20d87ac9885120a6e9b4",
    size=None,  # about 1.34 GB
    description=(
        "MLPerf BERT-large fp32 PyTorch state dict (BertForQuestionAnswering keys), the "
        "reference's pytorch_SUT model; same weights as model.onnx"
    ),
)

# Keys are the names configs use to refer to a file.
CATALOG: dict[str, RemoteFile] = {
    "squad_dev": SQUAD_DEV,
    "vocab": VOCAB,
    "bert_large_fp32": BERT_LARGE_FP32,
    "bert_large_int8": BERT_LARGE_INT8,
    "bert_large_pytorch": BERT_LARGE_PYTORCH,
}


def lookup(key: str) -> RemoteFile:
    """The catalog entry for `key`; an unknown key raises ConfigError listing the known ones."""
    try:
        return CATALOG[key]
    except KeyError:
        raise field_error("asset", key, f"one of {sorted(CATALOG)}") from None
