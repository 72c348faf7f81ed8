//! Minimal decoding of Kubernetes protobuf request bodies for the built-ins kubectl creates that way
//! (`kubectl create secret|configmap|namespace`): Secret, ConfigMap, Namespace into JSON.

use super::builtins::base64;
use super::status::ApiError;
use serde_json::{Map, Value, json};

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn bad() -> ApiError {
    ApiError::bad_request("malformed protobuf body")
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, i: 0 }
    }
    fn varint(&mut self) -> Result<u64, ApiError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.i).ok_or_else(bad)?;
            self.i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad())
    }
    /// Next (field number, value), or None at the end.
    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, ApiError> {
        if self.i >= self.b.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let f = match key & 7 {
            0 => Field::Varint(self.varint()?),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| bad())?;
                let end = self.i.checked_add(len).filter(|e| *e <= self.b.len()).ok_or_else(bad)?;
                let s = &self.b[self.i..end];
                self.i = end;
                Field::Bytes(s)
            }
            1 => {
                self.i += 8;
                Field::Fixed
            }
            5 => {
                self.i += 4;
                Field::Fixed
            }
            _ => return Err(bad()),
        };
        Ok(Some((key >> 3, f)))
    }
}

fn text(b: &[u8]) -> Value {
    json!(String::from_utf8_lossy(b))
}

/// A map<string, string|bytes> entry.
fn entry(b: &[u8], bytes_value: bool) -> Result<(String, Value), ApiError> {
    let mut r = Reader::new(b);
    let (mut k, mut v) = (String::new(), json!(""));
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Bytes(x)) => k = String::from_utf8_lossy(x).into(),
            (2, Field::Bytes(x)) => v = if bytes_value { json!(base64(x)) } else { text(x) },
            _ => {}
        }
    }
    Ok((k, v))
}

fn add_entry(obj: &mut Map<String, Value>, field: &str, b: &[u8], bytes_value: bool) -> Result<(), ApiError> {
    let (k, v) = entry(b, bytes_value)?;
    let m = obj.entry(field).or_insert_with(|| json!({}));
    m[k.as_str()] = v;
    Ok(())
}

fn object_meta(b: &[u8]) -> Result<Value, ApiError> {
    let mut r = Reader::new(b);
    let mut m = Map::new();
    while let Some((n, f)) = r.next()? {
        if let Field::Bytes(x) = f {
            match n {
                1 => drop(m.insert("name".into(), text(x))),
                2 => drop(m.insert("generateName".into(), text(x))),
                3 => drop(m.insert("namespace".into(), text(x))),
                11 => add_entry(&mut m, "labels", x, false)?,
                12 => add_entry(&mut m, "annotations", x, false)?,
                14 => {
                    let l = m.entry("finalizers").or_insert_with(|| json!([]));
                    if let Some(a) = l.as_array_mut() {
                        a.push(text(x));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(Value::Object(m))
}

/// Decodes a `k8s\0`-prefixed runtime.Unknown body into a JSON object of a supported kind.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let inner = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| ApiError::bad_request("protobuf body without the k8s magic prefix"))?;
    let mut r = Reader::new(inner);
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                let mut t = Reader::new(tm);
                while let Some((n, f)) = t.next()? {
                    match (n, f) {
                        (1, Field::Bytes(x)) => api_version = String::from_utf8_lossy(x).into(),
                        (2, Field::Bytes(x)) => kind = String::from_utf8_lossy(x).into(),
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    let mut r = Reader::new(raw);
    while let Some((n, f)) = r.next()? {
        match (kind.as_str(), n, f) {
            (_, 1, Field::Bytes(x)) => drop(obj.insert("metadata".into(), object_meta(x)?)),
            ("Secret", 2, Field::Bytes(x)) => add_entry(&mut obj, "data", x, true)?,
            ("Secret", 3, Field::Bytes(x)) => drop(obj.insert("type".into(), text(x))),
            ("Secret", 4, Field::Bytes(x)) => add_entry(&mut obj, "stringData", x, false)?,
            ("Secret", 5, Field::Varint(v)) | ("ConfigMap", 4, Field::Varint(v)) => {
                drop(obj.insert("immutable".into(), json!(v != 0)))
            }
            ("ConfigMap", 2, Field::Bytes(x)) => add_entry(&mut obj, "data", x, false)?,
            ("ConfigMap", 3, Field::Bytes(x)) => add_entry(&mut obj, "binaryData", x, true)?,
            ("Secret" | "ConfigMap" | "Namespace", _, _) => {}
            (other, _, _) => {
                return Err(ApiError::unsupported_media(format!(
                    "kubeemu cannot decode protobuf for kind {other:?}; send JSON"
                )));
            }
        }
    }
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(n: u8, b: &[u8]) -> Vec<u8> {
        let mut v = vec![(n << 3) | 2, b.len() as u8];
        v.extend_from_slice(b);
        v
    }

    #[test]
    fn decodes_a_secret() {
        let meta = ld(1, b"s");
        let entry = [ld(1, b"password"), ld(2, b"pw")].concat();
        let secret = [ld(1, &meta), ld(2, &entry), ld(3, b"Opaque")].concat();
        let tm = [ld(1, b"v1"), ld(2, b"Secret")].concat();
        let body = [b"k8s\0".to_vec(), ld(1, &tm), ld(2, &secret)].concat();
        let v = decode(&body).unwrap_or_default();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "cHc="}, "type": "Opaque"})
        );
    }
}
