//! Quantities in API objects: parsing and canonical forms come from `ironkube_quantity`;
//! this rewrites the resource lists of objects in place.

pub use ironkube_quantity::{canonical, is_nonzero, nanos};

/// Canonicalizes every quantity of the resource list at `obj[key]`.
pub fn canonicalize_list(obj: &mut serde_json::Value, key: &str) {
    if let Some(map) = obj.get_mut(key).and_then(serde_json::Value::as_object_mut) {
        for v in map.values_mut() {
            if let Some(q) = v.as_str() {
                *v = serde_json::Value::String(canonical(q));
            }
        }
    }
}
