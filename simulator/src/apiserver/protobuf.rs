//! Just enough Kubernetes protobuf to read what kubectl's typed clients send for built-in kinds
//! (`kubectl create namespace`): the `k8s\0` envelope and a Namespace's metadata.

use serde_json::{json, Map, Value};

/// One decoded protobuf field: number and payload (scalars are skipped: nothing read here needs them).
enum Field<'a> {
    Scalar,
    Bytes(u32, &'a [u8]),
}

fn varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn fields(data: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let key = varint(data, &mut pos)?;
        let number = u32::try_from(key >> 3).ok()?;
        match key & 7 {
            0 => {
                varint(data, &mut pos)?;
                out.push(Field::Scalar);
            }
            1 => pos += 8,
            2 => {
                let len = usize::try_from(varint(data, &mut pos)?).ok()?;
                out.push(Field::Bytes(number, data.get(pos..pos + len)?));
                pos += len;
            }
            5 => pos += 4,
            _ => return None,
        }
    }
    Some(out)
}

fn text(bytes: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

/// A `map<string,string>` entry: key 1, value 2.
fn map_entry(bytes: &[u8]) -> Option<(String, Value)> {
    let mut key = String::new();
    let mut value = Value::String(String::new());
    for field in fields(bytes)? {
        match field {
            Field::Bytes(1, k) => key = String::from_utf8_lossy(k).into_owned(),
            Field::Bytes(2, v) => value = text(v),
            _ => {}
        }
    }
    Some((key, value))
}

/// ObjectMeta: name 1, generateName 2, namespace 3, labels 11, annotations 12, finalizers 14.
fn object_meta(bytes: &[u8]) -> Option<Value> {
    let mut meta = Map::new();
    let (mut labels, mut annotations, mut finalizers) = (Map::new(), Map::new(), Vec::new());
    for field in fields(bytes)? {
        match field {
            Field::Bytes(1, v) => _ = meta.insert("name".into(), text(v)),
            Field::Bytes(2, v) => _ = meta.insert("generateName".into(), text(v)),
            Field::Bytes(3, v) => _ = meta.insert("namespace".into(), text(v)),
            Field::Bytes(11, v) => labels.extend(map_entry(v)),
            Field::Bytes(12, v) => annotations.extend(map_entry(v)),
            Field::Bytes(14, v) => finalizers.push(text(v)),
            _ => {}
        }
    }
    if !labels.is_empty() {
        meta.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        meta.insert("finalizers".into(), Value::Array(finalizers));
    }
    Some(Value::Object(meta))
}

/// Decodes a protobuf request body into JSON, for the kinds this module knows (Namespace).
pub(crate) fn decode(body: &[u8]) -> Option<Value> {
    let envelope = body.strip_prefix(b"k8s\0")?;
    let (mut api_version, mut kind, mut raw) = (Value::Null, Value::Null, &[][..]);
    for field in fields(envelope)? {
        match field {
            Field::Bytes(1, type_meta) => {
                for f in fields(type_meta)? {
                    match f {
                        Field::Bytes(1, v) => api_version = text(v),
                        Field::Bytes(2, v) => kind = text(v),
                        _ => {}
                    }
                }
            }
            Field::Bytes(2, bytes) => raw = bytes,
            _ => {}
        }
    }
    if kind != "Namespace" {
        return None;
    }
    let mut metadata = json!({});
    for field in fields(raw)? {
        if let Field::Bytes(1, meta) = field {
            metadata = object_meta(meta)?;
        }
    }
    Some(json!({"apiVersion": api_version, "kind": kind, "metadata": metadata}))
}

#[cfg(test)]
mod tests {
    use super::decode;
    use serde_json::json;

    fn bytes(field: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(field << 3) | 2, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn reads_a_namespace_envelope() {
        let label = [bytes(1, b"team"), bytes(2, b"a")].concat();
        let meta = [bytes(1, b"apps"), bytes(11, &label)].concat();
        let namespace = bytes(1, &meta);
        let type_meta = [bytes(1, b"v1"), bytes(2, b"Namespace")].concat();
        let body = [
            b"k8s\0".to_vec(),
            bytes(1, &type_meta),
            bytes(2, &namespace),
        ]
        .concat();
        assert_eq!(
            decode(&body),
            Some(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps", "labels": {"team": "a"}}})
            )
        );
        assert_eq!(decode(b"not protobuf"), None);
    }
}
