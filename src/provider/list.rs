//! Bounded, tolerant decoding of provider trunk lists: a byte and an item budget across all
//! pages, items borrowed as raw JSON from the one response buffer (the body is never held twice),
//! and an item that does not parse skipped and reported instead of failing the whole account.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Default byte budget of one list, all pages together. An honest autocalls item is about
/// 450 bytes and a bolna item about 700, so 50,000 trunks fit with room to spare, while a hostile
/// 100 MiB list is refused after 48 MiB were read.
pub const DEFAULT_LIST_MAX_BYTES: usize = 48 * 1024 * 1024;
/// Default item budget of one list, all pages together (50,000 honest trunks and 20% growth).
pub const DEFAULT_LIST_MAX_ITEMS: usize = 60_000;
/// Most malformed items reported per list (ids, fields); the rest are only counted.
pub const MAX_REPORTED_SKIPS: usize = 1_000;

/// The most one account's list may cost, across all its pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListBudget {
    /// Response bytes.
    pub max_bytes: usize,
    /// Items.
    pub max_items: usize,
}

impl Default for ListBudget {
    fn default() -> Self {
        ListBudget { max_bytes: DEFAULT_LIST_MAX_BYTES, max_items: DEFAULT_LIST_MAX_ITEMS }
    }
}

/// A list item that did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Its id, where one could be read (sanitized, at most 64 characters).
    pub id: Option<String>,
    /// Path of the field that failed (e.g. `sip_calling_format`), `.` when the item itself.
    pub field: String,
    /// What was wrong with it (bounded).
    pub error: String,
    /// Ownership markers (`op:` + 10 hex) found anywhere in the item's text.
    pub markers: Vec<String>,
}

/// One decoded page.
#[derive(Debug)]
pub struct Page<T> {
    /// Items that parsed.
    pub items: Vec<T>,
    /// Items that did not (at most `MAX_REPORTED_SKIPS`; `skipped_total` counts all).
    pub skipped: Vec<Skipped>,
    /// Every item that did not parse.
    pub skipped_total: usize,
    /// autocalls pagination (trap 22).
    pub next_page_url: Option<String>,
}

/// Why a page could not be decoded at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageError {
    /// More items than the remaining item budget.
    TooManyItems(usize),
    /// Not the documented list shape (not JSON, not an array, no `data`).
    Shape(String),
}

/// Decodes one list page from `bytes`: a bare array (bolna) or `{"data": [...], "next_page_url"}`
/// (autocalls, famulor). At most `max_items` items are accepted; each item is parsed on its own,
/// so a malformed one is skipped and reported with the failing field's path.
pub fn decode_page<T: DeserializeOwned>(bytes: &[u8], envelope: bool, max_items: usize) -> Result<Page<T>, PageError> {
    let over = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let decoded = if envelope {
        EnvelopeSeed { items: ItemsSeed { max: max_items, over: &over } }.deserialize(&mut de)
    } else {
        ItemsSeed { max: max_items, over: &over }.deserialize(&mut de).map(|items| (items, None))
    };
    let (raws, next_page_url) = match decoded.and_then(|d| de.end().map(|_| d)) {
        Ok(d) => d,
        Err(_) if over.get() => return Err(PageError::TooManyItems(max_items)),
        Err(e) => return Err(PageError::Shape(bounded(&e.to_string(), 200))),
    };
    let mut page = Page { items: Vec::with_capacity(raws.len()), skipped: Vec::new(), skipped_total: 0, next_page_url };
    for raw in raws {
        let mut item_de = serde_json::Deserializer::from_str(raw.get());
        match serde_path_to_error::deserialize::<_, T>(&mut item_de) {
            Ok(t) => page.items.push(t),
            Err(e) => {
                page.skipped_total += 1;
                if page.skipped.len() < MAX_REPORTED_SKIPS {
                    let field = e.path().to_string();
                    page.skipped.push(Skipped {
                        id: item_id(raw.get()),
                        field: bounded(&field, 64),
                        error: bounded(&e.into_inner().to_string(), 120),
                        markers: markers(raw.get()),
                    });
                }
            }
        }
    }
    Ok(page)
}

/// Cut to `max` characters, with control characters replaced: safe for logs and conditions.
pub fn bounded(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

fn item_id(raw: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default)]
        id: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_str(raw).ok()?;
    match probe.id? {
        serde_json::Value::String(s) => Some(bounded(&s, 64)),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Ownership markers (`op:` followed by 10 hex digits) anywhere in the text.
fn markers(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = raw;
    while let Some(i) = rest.find("op:") {
        let cand = &rest[i..];
        let hex = cand.as_bytes().iter().skip(3).take(10).filter(|b| b.is_ascii_hexdigit()).count();
        if hex == 10 && out.len() < 4 {
            out.push(cand[..13].to_string());
        }
        rest = &rest[i + 3..];
    }
    out
}

struct ItemsSeed<'c> {
    max: usize,
    over: &'c Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of trunks")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.max).min(4096));
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            if out.len() >= self.max {
                self.over.set(true);
                return Err(de::Error::custom(format!("more than {} items", self.max)));
            }
            out.push(raw);
        }
        Ok(out)
    }
}

struct EnvelopeSeed<'c> {
    items: ItemsSeed<'c>,
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_> {
    type Value = (Vec<&'de RawValue>, Option<String>);

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_> {
    type Value = (Vec<&'de RawValue>, Option<String>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a data list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut items = None;
        let mut next = None;
        let mut seed = Some(self.items);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "data" => match seed.take() {
                    Some(s) => items = Some(map.next_value_seed(s)?),
                    None => return Err(de::Error::duplicate_field("data")),
                },
                "next_page_url" => next = map.next_value::<Option<String>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((items.ok_or_else(|| de::Error::missing_field("data"))?, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::autocalls::wire::Trunk;

    fn item(id: i64) -> serde_json::Value {
        serde_json::json!({
            "id": id, "phone_number": format!("+1415555{id:04}"), "nickname": format!("Line {id} op:0123456789"),
            "sip_username": format!("user{id}"), "sip_address": "sip.carrier.example", "sip_calling_format": "+e164",
            "inbound_authorization_type": "auth", "allowed_inbound_ips": null, "outbound_proxy": false,
            "country_code": "US", "created_at": "2026-01-01T00:00:00.000000Z", "updated_at": "2026-01-01T00:00:00.000000Z"
        })
    }

    #[test]
    fn a_malformed_item_is_skipped_with_its_id_field_and_marker() {
        let mut bad = item(2);
        bad["sip_calling_format"] = serde_json::Value::Null;
        let body = serde_json::json!({"data": [item(1), bad, item(3)], "next_page_url": null});
        let page: Page<Trunk> = decode_page(&serde_json::to_vec(&body).unwrap(), true, 10).unwrap();
        assert_eq!(page.items.iter().map(|t| t.id).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(page.skipped_total, 1);
        let s = &page.skipped[0];
        assert_eq!(s.id.as_deref(), Some("2"));
        assert_eq!(s.field, "sip_calling_format");
        assert_eq!(s.markers, ["op:0123456789"]);
    }

    #[test]
    fn item_budget_is_enforced_before_any_item_is_decoded() {
        let body = format!("[{}]", ["{}"; 11].join(","));
        let r = decode_page::<Trunk>(body.as_bytes(), false, 10);
        assert_eq!(r.unwrap_err(), PageError::TooManyItems(10));
        assert!(decode_page::<serde_json::Value>(body.as_bytes(), false, 11).is_ok());
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        for body in ["", "{}", "[1,", "{\"data\": 5}", "<html>", "[] []"] {
            assert!(matches!(decode_page::<Trunk>(body.as_bytes(), true, 10), Err(PageError::Shape(_))), "{body}");
        }
        let p: Page<Trunk> =
            decode_page(b"{\"data\": [], \"next_page_url\": \"https://x/?page=2\"}", true, 10).unwrap();
        assert_eq!(p.next_page_url.as_deref(), Some("https://x/?page=2"));
    }

    #[test]
    fn defaults_serve_an_honest_50000_trunk_account() {
        let items: Vec<serde_json::Value> = (0..50_000).map(item).collect();
        let body = serde_json::to_vec(&serde_json::json!({"data": items})).unwrap();
        let b = ListBudget::default();
        assert!(body.len() < b.max_bytes / 2, "{} bytes", body.len());
        let page: Page<Trunk> = decode_page(&body, true, b.max_items).unwrap();
        assert_eq!(page.items.len(), 50_000);
    }

    #[test]
    fn bounded_cuts_and_strips_control_characters() {
        assert_eq!(bounded("a\nb\u{1b}[31m", 4), "a b …");
    }
}
