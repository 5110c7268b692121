//! The three schemas as values: pick one and a message type by name at run time.

use std::{fmt, str::FromStr};

use prost_reflect::{DescriptorPool, MessageDescriptor, ReflectMessage};

use crate::{WireMessage, ups_amazon, world_amazon, world_ups};

/// Everything a generated message type offers; what [`MessageVisitor`]s receive.
pub trait SchemaMessage:
    WireMessage + ReflectMessage + Clone + PartialEq + fmt::Debug + Send + Sync + 'static
{
}

impl<T> SchemaMessage for T where
    T: WireMessage + ReflectMessage + Clone + PartialEq + fmt::Debug + Send + Sync + 'static
{
}

/// Code that is generic over a message type, run for a type chosen by name
/// ([`Schema::visit_message`]).
pub trait MessageVisitor {
    /// What the visit returns.
    type Output;
    /// Called with the chosen type.
    fn visit<M: SchemaMessage>(self) -> Self::Output;
}

/// One of the three wire schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Schema {
    /// `world_amazon.proto`: WeShop <-> world.
    WorldAmazon,
    /// `world_ups.proto`: UPS <-> world.
    WorldUps,
    /// `ups_amazon.proto`: WeShop <-> UPS.
    UpsAmazon,
}

/// A message name that the schema does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema {schema} has no message {name:?} (it has: {})", schema.message_names().join(", "))]
pub struct UnknownMessage {
    /// The schema searched.
    pub schema: Schema,
    /// The name asked for.
    pub name: String,
}

/// A schema name other than `world_amazon`, `world_ups` and `ups_amazon`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown schema {0:?} (expected world_amazon, world_ups or ups_amazon)")]
pub struct UnknownSchema(pub String);

impl Schema {
    /// All three schemas.
    pub const ALL: [Schema; 3] = [Schema::WorldAmazon, Schema::WorldUps, Schema::UpsAmazon];

    /// The schema's file stem: `world_amazon`, `world_ups` or `ups_amazon`.
    pub fn name(self) -> &'static str {
        match self {
            Schema::WorldAmazon => "world_amazon",
            Schema::WorldUps => "world_ups",
            Schema::UpsAmazon => "ups_amazon",
        }
    }

    /// The schema's compiled descriptors.
    pub fn descriptor_pool(self) -> &'static DescriptorPool {
        match self {
            Schema::WorldAmazon => &world_amazon::DESCRIPTOR_POOL,
            Schema::WorldUps => &world_ups::DESCRIPTOR_POOL,
            Schema::UpsAmazon => &ups_amazon::DESCRIPTOR_POOL,
        }
    }

    /// The schema's `.proto` source.
    pub fn proto_source(self) -> &'static str {
        match self {
            Schema::WorldAmazon => world_amazon::PROTO_SOURCE,
            Schema::WorldUps => world_ups::PROTO_SOURCE,
            Schema::UpsAmazon => ups_amazon::PROTO_SOURCE,
        }
    }

    /// Every message the schema defines, in declaration order.
    pub fn message_names(self) -> &'static [&'static str] {
        match self {
            Schema::WorldAmazon => world_amazon::MESSAGE_NAMES,
            Schema::WorldUps => world_ups::MESSAGE_NAMES,
            Schema::UpsAmazon => ups_amazon::MESSAGE_NAMES,
        }
    }

    /// The messages that travel as whole frames on the link (the rest are parts of them).
    pub fn frame_messages(self) -> &'static [&'static str] {
        match self {
            Schema::WorldAmazon => &["AConnect", "AConnected", "ACommands", "AResponses"],
            Schema::WorldUps => &["UConnect", "UConnected", "UCommands", "UResponses"],
            Schema::UpsAmazon => &["ConnectWorldId", "AtoUCommands", "UtoACommands"],
        }
    }

    /// The descriptor of a message of this schema.
    pub fn message_descriptor(self, name: &str) -> Result<MessageDescriptor, UnknownMessage> {
        self.descriptor_pool()
            .get_message_by_name(name)
            .ok_or_else(|| self.unknown(name))
    }

    /// Runs `visitor` with the Rust type of message `name`.
    pub fn visit_message<V: MessageVisitor>(
        self,
        name: &str,
        visitor: V,
    ) -> Result<V::Output, UnknownMessage> {
        let visited = match self {
            Schema::WorldAmazon => world_amazon::visit_message(name, visitor),
            Schema::WorldUps => world_ups::visit_message(name, visitor),
            Schema::UpsAmazon => ups_amazon::visit_message(name, visitor),
        };
        visited.ok_or_else(|| self.unknown(name))
    }

    fn unknown(self, name: &str) -> UnknownMessage {
        UnknownMessage {
            schema: self,
            name: name.to_string(),
        }
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Schema {
    type Err = UnknownSchema;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Schema::ALL
            .into_iter()
            .find(|schema| schema.name() == s)
            .ok_or_else(|| UnknownSchema(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Name;
    impl MessageVisitor for Name {
        type Output = &'static str;
        fn visit<M: SchemaMessage>(self) -> &'static str {
            M::LAYOUT.name
        }
    }

    #[test]
    fn every_message_name_maps_to_its_type_and_descriptor() {
        for schema in Schema::ALL {
            assert_eq!(schema.name().parse::<Schema>().unwrap(), schema);
            assert!(schema.message_names().len() >= schema.frame_messages().len());
            for name in schema.message_names() {
                assert_eq!(schema.visit_message(name, Name).unwrap(), *name);
                assert_eq!(schema.message_descriptor(name).unwrap().full_name(), *name);
            }
            for name in schema.frame_messages() {
                assert!(schema.message_names().contains(name));
            }
        }
    }

    #[test]
    fn unknown_names_are_errors_that_list_the_choices() {
        let err = Schema::UpsAmazon
            .visit_message("AConnect", Name)
            .unwrap_err();
        assert!(err.to_string().contains("ConnectWorldId"), "{err}");
        assert!("world".parse::<Schema>().is_err());
    }

    #[test]
    fn schemas_have_the_expected_counts() {
        assert_eq!(Schema::WorldAmazon.message_names().len(), 14);
        assert_eq!(Schema::WorldUps.message_names().len(), 13);
        assert_eq!(Schema::UpsAmazon.message_names().len(), 11);
    }
}
