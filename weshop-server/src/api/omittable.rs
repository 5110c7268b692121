//! An optional request field that may be left out but may not be `null`.
//!
//! poem-openapi reads `Option<T>` from both an absent field and `null`, while the spec it writes
//! says the field is not nullable: a client sending `{"name": null}` was answered 200 against
//! the contract. [`Omittable`] keeps the spec as it is and refuses `null` with a 400 that says
//! to leave the field out.

use std::{borrow::Cow, ops::Deref};

use poem_openapi::{
    registry::{MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// A field that is either absent or a value of `T`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Omittable<T>(pub Option<T>);

impl<T> Deref for Omittable<T> {
    type Target = Option<T>;

    fn deref(&self) -> &Option<T> {
        &self.0
    }
}

impl<T: Type> Type for Omittable<T> {
    const IS_REQUIRED: bool = false;

    type RawValueType = T::RawValueType;

    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        format!("optional_{}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(Type::as_raw_value)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(value) => value.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }

    fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Omittable<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None => Ok(Self(None)),
            Some(Value::Null) => Err(ParseError::custom(
                "null is not allowed here: leave the field out instead",
            )),
            Some(value) => Ok(Self(Some(
                T::parse_from_json(Some(value)).map_err(ParseError::propagate)?,
            ))),
        }
    }
}

impl<T: ToJSON> ToJSON for Omittable<T> {
    fn to_json(&self) -> Option<Value> {
        self.0.as_ref().and_then(ToJSON::to_json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::text::Text;

    #[test]
    fn absent_is_none_null_is_refused_a_value_is_kept() {
        assert_eq!(Omittable::<Text>::parse_from_json(None).unwrap().0, None);
        assert!(Omittable::<Text>::parse_from_json(Some(Value::Null)).is_err());
        let kept = Omittable::<Text>::parse_from_json(Some(Value::String("x".into()))).unwrap();
        assert_eq!(kept.as_deref(), Some("x"));
        assert!(Omittable::<Text>::parse_from_json(Some(Value::Bool(true))).is_err());
    }
}
