//! Integer attributes of operations, and how a node stores them.
//!
//! Attributes are written after the operands: `Pow(x, 3)`, `Extract(x, 1, 2)`,
//! `TensorDot(a, b, (2, 3), (3,), (1,), (0,))`. A node keeps them flat in its
//! `attrs: Box<[i64]>`, in the order of the op's [`Attr`] list:
//!
//! - an integer attribute is one value;
//! - a tuple attribute is its length followed by its elements;
//! - an optional tuple that was left out is stored as the empty tuple (a single `0`).
//!
//! So `TensorDot(a, b, (2, 3), (3,), (1,), (0,))` stores `[2, 2, 3, 1, 3, 1, 1, 1, 0, 0]`: four
//! tuples, then the omitted `permute` as `0`. The encoding keeps nodes hashable and comparable
//! with no extra type, and ops without tuples (all but a few) store exactly their integers.

/// The kind of an integer attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    /// One integer: `Pow(x, 3)`.
    Int,
    /// A tuple of integers: `(2, 3)`, `(3,)`, `()`.
    Tuple,
    /// A tuple that may be left out (last only); it then reads as the empty tuple.
    OptionalTuple,
}

/// An integer attribute of an operation: its name (for messages and the docs) and kind.
#[derive(Clone, Copy, Debug)]
pub struct Attr {
    pub name: &'static str,
    pub kind: AttrKind,
}

impl Attr {
    pub const fn int(name: &'static str) -> Attr {
        Attr { name, kind: AttrKind::Int }
    }

    pub const fn tuple(name: &'static str) -> Attr {
        Attr { name, kind: AttrKind::Tuple }
    }

    pub const fn optional_tuple(name: &'static str) -> Attr {
        Attr { name, kind: AttrKind::OptionalTuple }
    }
}

/// An attribute as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttrValue {
    Int(i64),
    Tuple(Vec<i64>),
}

/// The flat encoding of `values` (see the module documentation).
pub fn encode(values: &[AttrValue]) -> Vec<i64> {
    let mut out = Vec::new();
    for v in values {
        match v {
            AttrValue::Int(n) => out.push(*n),
            AttrValue::Tuple(items) => {
                out.push(items.len() as i64);
                out.extend_from_slice(items);
            }
        }
    }
    out
}

/// Splits a node's attributes into one slice per attribute of `specs` (an integer is a slice of
/// length 1, a tuple its elements), or says why the encoding does not fit.
pub fn decode<'a>(specs: &[Attr], attrs: &'a [i64]) -> Result<Vec<&'a [i64]>, String> {
    let mut out = Vec::with_capacity(specs.len());
    let mut rest = attrs;
    for spec in specs {
        match spec.kind {
            AttrKind::Int => {
                let Some((first, tail)) = rest.split_first() else {
                    return Err(format!("missing the integer attribute `{}`", spec.name));
                };
                out.push(std::slice::from_ref(first));
                rest = tail;
            }
            AttrKind::Tuple | AttrKind::OptionalTuple => {
                let len = rest.first().and_then(|&n| usize::try_from(n).ok());
                match len {
                    Some(n) if rest.len() > n => {
                        out.push(&rest[1..=n]);
                        rest = &rest[n + 1..];
                    }
                    _ => return Err(format!("malformed tuple attribute `{}`", spec.name)),
                }
            }
        }
    }
    if rest.is_empty() { Ok(out) } else { Err(format!("{} unexpected attribute value(s)", rest.len())) }
}

/// The attributes of a node as they are written: `3`, `(2, 3)`, `(1,)`.
pub fn format(specs: &[Attr], attrs: &[i64]) -> Vec<String> {
    let Ok(parts) = decode(specs, attrs) else {
        return attrs.iter().map(i64::to_string).collect();
    };
    specs
        .iter()
        .zip(parts)
        .map(|(spec, values)| match (spec.kind, values) {
            (AttrKind::Int, v) => v[0].to_string(),
            (_, [single]) => format!("({single},)"),
            (_, v) => {
                let items: Vec<String> = v.iter().map(i64::to_string).collect();
                format!("({})", items.join(", "))
            }
        })
        .collect()
}

/// The elements of consecutive tuples, for ops whose attributes are all tuples. Only called on
/// attributes that [`decode`] accepted.
pub(crate) fn tuples(attrs: &[i64]) -> Vec<&[i64]> {
    let mut out = Vec::new();
    let mut rest = attrs;
    while let Some(&n) = rest.first() {
        let n = n as usize;
        out.push(&rest[1..=n]);
        rest = &rest[n + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENSORDOT: &[Attr] =
        &[Attr::tuple("a"), Attr::tuple("b"), Attr::tuple("c"), Attr::tuple("d"), Attr::optional_tuple("p")];

    #[test]
    fn round_trip() {
        let values = [
            AttrValue::Tuple(vec![2, 3]),
            AttrValue::Tuple(vec![3]),
            AttrValue::Tuple(vec![1]),
            AttrValue::Tuple(vec![0]),
            AttrValue::Tuple(vec![]),
        ];
        let flat = encode(&values);
        assert_eq!(flat, [2, 2, 3, 1, 3, 1, 1, 1, 0, 0]);
        let parts = decode(TENSORDOT, &flat).unwrap();
        assert_eq!(parts, [&[2, 3][..], &[3], &[1], &[0], &[]]);
        assert_eq!(tuples(&flat), parts);
        assert_eq!(format(TENSORDOT, &flat), ["(2, 3)", "(3,)", "(1,)", "(0,)", "()"]);
        let ints = [Attr::int("start"), Attr::int("len")];
        assert_eq!(decode(&ints, &[1, 2]).unwrap(), [&[1][..], &[2]]);
        assert_eq!(format(&ints, &[1, -2]), ["1", "-2"]);
    }

    #[test]
    fn malformed_encodings_are_errors() {
        assert!(decode(&[Attr::int("n")], &[]).is_err());
        assert!(decode(&[Attr::int("n")], &[1, 2]).is_err());
        assert!(decode(&[Attr::tuple("t")], &[3, 1, 2]).is_err());
        assert!(decode(&[Attr::tuple("t")], &[-1]).is_err());
    }
}
