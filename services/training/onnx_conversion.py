"""What makes skl2onnx fast on this service's pipelines: a classifier parser and forest converters.

Both replace generic skl2onnx code with code that gives the same bytes (the tests compare):
- skl2onnx leaves ZipMap out only when asked by `options`, and any `options` make it walk every
  attribute of every fitted estimator, twice (for a forest: regenerating every bootstrap sample
  and every tree's feature importances, ~0.45 s). The parser declares the classifier's two tensor
  outputs (label, probabilities) itself, so no options are needed.
- skl2onnx's forest converters visit every node of every tree in Python and then let
  `onnx.helper.make_attribute` type-check every value again (~2 s for 100 trees of depth 12).
  These build the same TreeEnsembleClassifier / TreeEnsembleRegressor node from whole numpy
  arrays, and add its (megabytes of) attributes to the finished model: skl2onnx copies every node
  twice while it assembles the graph. Options this service never asks for fall back to
  skl2onnx's converters.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from onnx import AttributeProto, GraphProto, ModelProto, NodeProto, helper
from skl2onnx import get_model_alias
from skl2onnx.common.data_types import Int64TensorType, guess_tensor_type
from skl2onnx.common.utils_classifier import get_label_classes
from skl2onnx.operator_converters.random_forest import (
    convert_sklearn_random_forest_classifier,
    convert_sklearn_random_forest_regressor_converter,
)
from sklearn.ensemble import (
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression

_DOMAIN = "ai.onnx.ml"
# Tree-ensemble node name -> its attributes, added once the model is complete.
DeferredAttributes = dict[str, dict[str, Any]]
# Options under which skl2onnx adds more than the one tree-ensemble node.
_EXTRA_OUTPUT_OPTIONS = {"raw_scores": False, "decision_path": False, "decision_leaf": False}


def custom_parsers() -> dict[type, Any]:
    """`custom_parsers` for `skl2onnx.convert_sklearn`: every classifier without ZipMap."""
    classifiers = (LogisticRegression, RandomForestClassifier, GradientBoostingClassifier)
    return {classifier: parse_classifier_without_zipmap for classifier in classifiers}


def custom_converters(deferred: DeferredAttributes) -> dict[type, Any]:
    """`custom_conversion_functions` for `skl2onnx.convert_sklearn`; the trees' attributes wait
    in `deferred` for the finished model (`serialized_with_deferred_attributes`)."""
    return {
        RandomForestClassifier: functools.partial(convert_forest_classifier, deferred=deferred),
        RandomForestRegressor: functools.partial(convert_forest_regressor, deferred=deferred),
    }


def parse_classifier_without_zipmap(
    scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None
) -> list[Any]:
    """Declare the classifier with its two tensor outputs, as `options={"zipmap": False}` does."""
    operator = scope.declare_local_operator(get_model_alias(type(model)), model)
    operator.inputs = inputs
    label = scope.declare_local_variable("label", Int64TensorType())
    probabilities = scope.declare_local_variable("probabilities", guess_tensor_type(inputs[0].type))
    operator.outputs.append(label)
    operator.outputs.append(probabilities)
    return list(operator.outputs)


class _Nodes:
    """Every node of every tree, concatenated in skl2onnx's order (tree by tree, node by node)."""

    def __init__(self, estimators: Sequence[Any]) -> None:
        trees = [estimator.tree_ for estimator in estimators]
        counts = [tree.node_count for tree in trees]
        self.tree_ids = np.repeat(np.arange(len(trees), dtype=np.int64), counts)
        self.node_ids = np.concatenate([np.arange(n, dtype=np.int64) for n in counts])
        left = np.concatenate([t.children_left for t in trees]).astype(np.int64)
        right = np.concatenate([t.children_right for t in trees]).astype(np.int64)
        self.branch = (left > self.node_ids) | (right > self.node_ids)
        self.true_ids = np.where(self.branch, left, 0)
        self.false_ids = np.where(self.branch, right, 0)
        features = np.concatenate([t.feature for t in trees]).astype(np.int64)
        self.feature_ids = np.where(self.branch, features, 0)
        thresholds = np.concatenate([t.threshold for t in trees]).astype(np.float64)
        self.values = np.where(self.branch, _float32_thresholds(thresholds), np.float32(0))
        # (nodes, outputs, classes or 1)
        self.leaf_values = np.concatenate([t.value for t in trees])[~self.branch]
        self.leaf_tree_ids = self.tree_ids[~self.branch]
        self.leaf_node_ids = self.node_ids[~self.branch]

    def attributes(self) -> dict[str, NDArray[Any]]:
        count = len(self.node_ids)
        return {
            "nodes_hitrates": np.ones(count, dtype=np.float32),
            "nodes_missing_value_tracks_true": np.zeros(count, dtype=np.int64),
            "nodes_treeids": self.tree_ids,
            "nodes_nodeids": self.node_ids,
            "nodes_featureids": self.feature_ids,
            "nodes_modes": np.where(self.branch, b"BRANCH_LEQ", b"LEAF"),
            "nodes_values": self.values,
            "nodes_truenodeids": self.true_ids,
            "nodes_falsenodeids": self.false_ids,
        }


def _float32_thresholds(thresholds: NDArray[np.float64]) -> NDArray[np.float32]:
    """scikit-learn tests float32(x) <= double threshold; the float32 w with x <= w alike.

    The vectorised `skl2onnx.common.tree_ensemble.sklearn_threshold` for float32 inputs.
    """
    rounded = thresholds.astype(np.float32)
    below = np.nextafter(rounded, np.float32(-np.inf))
    return np.where(rounded.astype(np.float64) > thresholds, below, rounded).astype(np.float32)


def convert_forest_classifier(
    scope: Any, operator: Any, container: Any, deferred: DeferredAttributes
) -> None:
    """A RandomForestClassifier as one TreeEnsembleClassifier (label, probabilities)."""
    forest = operator.raw_operator
    options = container.get_options(forest, dict(_EXTRA_OUTPUT_OPTIONS))
    if any(options[name] for name in _EXTRA_OUTPUT_OPTIONS) or forest.n_outputs_ != 1:
        convert_sklearn_random_forest_classifier(scope, operator, container)
        return
    classes = get_label_classes(scope, forest)
    if all(isinstance(c, str) for c in classes):
        labels: dict[str, Any] = {"classlabels_strings": [str(c) for c in classes]}
    else:
        labels = {"classlabels_int64s": [int(c) for c in classes]}
    nodes = _Nodes(forest.estimators_)
    weights = _leaf_probabilities(nodes.leaf_values[:, 0, :], 1.0 / len(forest.estimators_))
    if weights.shape[1] == 2:  # binary: only the second class's weight, as class 0
        weights = weights[:, 1:]
    per_leaf = weights.shape[1]
    outputs = {
        "class_treeids": np.repeat(nodes.leaf_tree_ids, per_leaf),
        "class_nodeids": np.repeat(nodes.leaf_node_ids, per_leaf),
        "class_ids": np.tile(np.arange(per_leaf, dtype=np.int64), len(weights)),
        "class_weights": weights.astype(np.float32).ravel(),
    }
    _add_ensemble(
        scope,
        container,
        "TreeEnsembleClassifier",
        operator.input_full_names,
        [operator.outputs[0].full_name, operator.outputs[1].full_name],
        {**nodes.attributes(), **outputs, "post_transform": "NONE", **labels},
        deferred,
    )


def convert_forest_regressor(
    scope: Any, operator: Any, container: Any, deferred: DeferredAttributes
) -> None:
    """A RandomForestRegressor as one TreeEnsembleRegressor (the mean of the trees)."""
    forest = operator.raw_operator
    options = scope.get_options(forest, dict(decision_path=False, decision_leaf=False))
    if options["decision_path"] or options["decision_leaf"]:
        convert_sklearn_random_forest_regressor_converter(scope, operator, container)
        return
    nodes = _Nodes(forest.estimators_)
    tree_weight = 1.0 / len(forest.estimators_)
    targets = nodes.leaf_values.reshape(len(nodes.leaf_values), -1) * tree_weight
    per_leaf = targets.shape[1]
    outputs = {
        "target_treeids": np.repeat(nodes.leaf_tree_ids, per_leaf),
        "target_nodeids": np.repeat(nodes.leaf_node_ids, per_leaf),
        "target_ids": np.tile(np.arange(per_leaf, dtype=np.int64), len(targets)),
        "target_weights": targets.astype(np.float32).ravel(),
    }
    small = {"post_transform": "NONE", "n_targets": int(forest.n_outputs_)}
    _add_ensemble(
        scope,
        container,
        "TreeEnsembleRegressor",
        operator.input_full_names,
        [operator.outputs[0].full_name],
        {**nodes.attributes(), **outputs, **small},
        deferred,
    )


def _leaf_probabilities(counts: NDArray[np.float64], tree_weight: float) -> NDArray[np.float64]:
    """Each leaf's class values scaled to sum to `tree_weight` (as skl2onnx: summed in order)."""
    total = np.zeros(len(counts), dtype=np.float64)
    for column in counts.T:  # sequential, like Python's sum(), for the same last bit
        total = total + column
    factor = tree_weight / np.where(total != 0.0, total, 1.0)
    result: NDArray[np.float64] = counts * factor[:, None]
    return result


def _add_ensemble(
    scope: Any,
    container: Any,
    op_type: str,
    inputs: list[str],
    outputs: list[str],
    attributes: dict[str, Any],
    deferred: DeferredAttributes,
) -> None:
    container.add_node(
        op_type,
        inputs,
        outputs,
        op_domain=_DOMAIN,
        op_version=1,
        name=scope.get_unique_operator_name(op_type),
    )
    deferred[container.nodes[-1].name] = attributes


def add_deferred_attributes(model: ModelProto, deferred: DeferredAttributes) -> None:
    """Give the tree-ensemble nodes of the finished model their attributes, in place."""
    missing = set(deferred)
    for node in model.graph.node:
        attributes = deferred.get(node.name)
        if attributes is None:
            continue
        missing.discard(node.name)
        # Ordered by name, as onnx.helper.make_node orders them.
        for name in sorted(attributes):
            value = attributes[name]
            if not isinstance(value, np.ndarray):
                node.attribute.append(helper.make_attribute(name, value))
                continue
            attribute = node.attribute.add(name=name)
            if value.dtype == np.int64:
                attribute.type = AttributeProto.INTS
                attribute.ints.extend(value.tolist())
            elif value.dtype == np.float32:
                attribute.type = AttributeProto.FLOATS
                attribute.floats.extend(value.tolist())
            else:
                attribute.type = AttributeProto.STRINGS
                attribute.strings.extend(value.tolist())
    if missing:
        raise RuntimeError(f"tree-ensemble nodes missing from the converted model: {missing}")


def serialized_with_deferred_attributes(model: ModelProto, deferred: DeferredAttributes) -> bytes:
    """The finished model's bytes with the tree-ensemble nodes' attributes, as
    `add_deferred_attributes` then `SerializeToString` give them, without the copy into protobuf:
    handing it a million numbers one Python object at a time (`tolist`, `extend`) and encoding
    them again was most of the export. The arrays are encoded here, whole, as protobuf writes
    ONNX's proto2 messages (fields by number, repeated numbers unpacked); the tests compare the
    bytes with skl2onnx's."""
    if not deferred:
        serialized: bytes = model.SerializeToString()
        return serialized
    missing = set(deferred)
    nodes = []
    for node in model.graph.node:
        attributes = deferred.get(node.name)
        if attributes is None:
            nodes.append(node.SerializeToString())
            continue
        missing.discard(node.name)
        nodes.append(_node_bytes(node, attributes))
    if missing:
        raise RuntimeError(f"tree-ensemble nodes missing from the converted model: {missing}")
    rest = GraphProto()
    rest.CopyFrom(model.graph)
    rest.ClearField("node")
    # GraphProto: node is field 1, so the nodes come first.
    graph = b"".join(_length_delimited(1, node) for node in nodes) + rest.SerializeToString()
    # ModelProto: graph is field 7, between doc_string (6) and opset_import (8).
    before, after = _split_fields(model, ModelProto.GRAPH_FIELD_NUMBER)
    return before + _length_delimited(ModelProto.GRAPH_FIELD_NUMBER, graph) + after


def _node_bytes(node: NodeProto, attributes: dict[str, Any]) -> bytes:
    """A node (without attributes of its own) with these, ordered by name as make_node does."""
    if len(node.attribute):
        raise RuntimeError(f"tree-ensemble node {node.name!r} already has attributes")
    encoded = []
    for name in sorted(attributes):
        value = attributes[name]
        if isinstance(value, np.ndarray):
            attribute = _attribute_bytes(name, value)
        else:
            attribute = helper.make_attribute(name, value).SerializeToString()
        encoded.append(_length_delimited(NodeProto.ATTRIBUTE_FIELD_NUMBER, attribute))
    before, after = _split_fields(node, NodeProto.ATTRIBUTE_FIELD_NUMBER)
    return before + b"".join(encoded) + after


def _split_fields(message: Any, number: int) -> tuple[bytes, bytes]:
    """The message's fields numbered below `number`, and above it, each serialised."""
    below, above = type(message)(), type(message)()
    below.CopyFrom(message)
    above.CopyFrom(message)
    for field, _ in message.ListFields():
        if field.number >= number:
            below.ClearField(field.name)
        if field.number <= number:
            above.ClearField(field.name)
    return below.SerializeToString(), above.SerializeToString()


def _attribute_bytes(name: str, value: NDArray[Any]) -> bytes:
    """An AttributeProto of an int64, float32 or bytes array: name (1), the values (floats 7,
    ints 8, strings 9), then type (20)."""
    if value.dtype == np.int64 and len(value) and value.min() >= 0:
        kind = AttributeProto.INTS
        body = _unpacked_varints(_tag(AttributeProto.INTS_FIELD_NUMBER, 0), value)
    elif value.dtype == np.float32:
        kind = AttributeProto.FLOATS
        records = np.empty((len(value), 5), dtype=np.uint8)
        records[:, 0] = _tag(AttributeProto.FLOATS_FIELD_NUMBER, 5)[0]
        records[:, 1:] = value.astype("<f4", copy=False).view(np.uint8).reshape(-1, 4)
        body = records.tobytes()
    elif value.dtype.kind == "S" and len(value):
        kind = AttributeProto.STRINGS
        # Few distinct strings (a node's mode): each one's field once, then one per value.
        distinct, which = np.unique(value, return_inverse=True)
        fields = [_length_delimited(AttributeProto.STRINGS_FIELD_NUMBER, s) for s in distinct]
        lengths = np.asarray([len(field) for field in fields], dtype=np.int64)
        table = np.zeros((len(fields), int(lengths.max())), dtype=np.uint8)
        for i, field in enumerate(fields):
            table[i, : len(field)] = np.frombuffer(field, dtype=np.uint8)
        body = _row_prefixes(table[which.ravel()], lengths[which.ravel()])
    else:  # negative or no numbers, other types: protobuf's own way
        attribute: bytes = helper.make_attribute(name, value.tolist()).SerializeToString()
        return attribute
    name_field = _length_delimited(AttributeProto.NAME_FIELD_NUMBER, name.encode())
    return name_field + body + _tag(AttributeProto.TYPE_FIELD_NUMBER, 0) + _varint(kind)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _tag(number, 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _unpacked_varints(tag: bytes, values: NDArray[np.int64]) -> bytes:
    """Each non-negative value as `tag` then its varint (7 bits a byte, low first)."""
    numbers = values.astype(np.uint64)
    sizes = np.ones(len(numbers), dtype=np.int64)
    for shift in range(7, 64, 7):
        sizes += numbers >= np.uint64(1 << shift)
    # One row per value (tag, then up to the longest varint), read back to each row's length.
    rows = np.empty((len(numbers), len(tag) + int(sizes.max())), dtype=np.uint8)
    rows[:, : len(tag)] = np.frombuffer(tag, dtype=np.uint8)
    for k in range(int(sizes.max())):
        chunk = (numbers >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = (sizes > k + 1).astype(np.uint64) << np.uint64(7)
        rows[:, len(tag) + k] = chunk | more
    return _row_prefixes(rows, len(tag) + sizes)


def _row_prefixes(rows: NDArray[np.uint8], lengths: NDArray[np.int64]) -> bytes:
    """The first `lengths[i]` bytes of each row `i`, one after another."""
    keep = np.arange(rows.shape[1]) < lengths[:, None]
    return rows[keep].tobytes()
