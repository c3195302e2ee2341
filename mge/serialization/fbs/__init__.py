"""Low-level codec for MegEngine's ``.mge`` model files: FBS_V2 and the older FBS (v1).

``read_model(data, source_name)`` turns the bytes of a model file (either format) into a
plain-data :class:`ModelFile`; ``write_model(model, dump_format)`` does the reverse,
producing a file real MegEngine 1.13 loads.  The codec knows the file layouts, every
param table, dtypes and operator type ids, but nothing about what operators compute;
mapping a ``ModelFile`` to a graph is done elsewhere.

Every problem with an input file raises :class:`MgeFormatError` (a ``ValueError``)
whose message starts with the file name.  Loading never executes anything from the file.
"""

from .dtypes import DTYPE_NAMES, DType
from .errors import MgeFormatError
from .formats import DUMP_FORMATS, read_model, write_model
from .model import (
    MGE_VERSION_1_13_0,
    MODEL_VERSION,
    Metadata,
    ModelFile,
    Operator,
    OutputAlias,
    OutputVar,
    Param,
    TensorFormat,
    TensorValue,
    VarInfo,
)
from .oprs import OprType
from .params import FULL_DTYPE, PARAMS_BY_ID, PARAMS_BY_NAME, ParamSpec, default_fields
from .reader import detect_format, read_model_v2
from .reader_v1 import read_model_v1
from .writer import write_model_v2
from .writer_v1 import write_model_v1
from .xxh64 import opr_type_id, xxh64

__all__ = [
    "DTYPE_NAMES",
    "DUMP_FORMATS",
    "DType",
    "FULL_DTYPE",
    "MGE_VERSION_1_13_0",
    "MODEL_VERSION",
    "Metadata",
    "MgeFormatError",
    "ModelFile",
    "Operator",
    "OprType",
    "OutputAlias",
    "OutputVar",
    "PARAMS_BY_ID",
    "PARAMS_BY_NAME",
    "Param",
    "ParamSpec",
    "TensorFormat",
    "TensorValue",
    "VarInfo",
    "default_fields",
    "detect_format",
    "opr_type_id",
    "read_model",
    "read_model_v1",
    "read_model_v2",
    "write_model",
    "write_model_v1",
    "write_model_v2",
    "xxh64",
]
