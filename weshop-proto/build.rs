//! Compiles the three wire schemas with protox (no system `protoc`) and prost-build, one module
//! per schema, and generates for every message:
//! - a `ReflectMessage` impl (descriptor pool per schema) for the JSON mapping and reflection;
//! - a `WireMessage` impl whose static layout lists the proto2 `required` fields, because prost
//!   does not record their presence and a missing one must be rejected like Google's parser does;
//! - a dispatch table from message name to type, so tools can pick a type at run time.

use std::{env, fmt::Write as _, fs, path::PathBuf};

use heck::ToUpperCamelCase;
use prost_types::{
    DescriptorProto, FileDescriptorSet,
    field_descriptor_proto::{Label, Type},
};

const SCHEMAS: [&str; 3] = ["world_amazon", "world_ups", "ups_amazon"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto_dir = manifest.join("proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=build.rs");

    for schema in SCHEMAS {
        let file = format!("{schema}.proto");
        println!("cargo:rerun-if-changed={}", proto_dir.join(&file).display());
        let fds = protox::Compiler::new([&proto_dir])?
            .include_source_info(true)
            .include_imports(true)
            .open_file(&file)?
            .file_descriptor_set();

        let fds_path = out_dir.join(format!("{schema}.fds"));
        fs::write(&fds_path, prost::Message::encode_to_vec(&fds))?;

        let module_dir = out_dir.join(schema);
        fs::create_dir_all(&module_dir)?;
        let mut config = prost_build::Config::new();
        config.out_dir(&module_dir);
        config.message_attribute(".", "#[derive(::prost_reflect::ReflectMessage)]");
        config.message_attribute(
            ".",
            "#[cfg_attr(feature = \"arbitrary\", derive(::arbitrary::Arbitrary))]",
        );
        for (proto_name, _) in messages(&fds) {
            config.message_attribute(
                format!(".{proto_name}"),
                format!(
                    "#[prost_reflect(descriptor_pool = \"crate::{schema}::DESCRIPTOR_POOL\", \
                     message_name = \"{proto_name}\")]"
                ),
            );
        }
        config.compile_fds(fds.clone())?;
        // A schema without a `package` is written to `_.rs`; give it a stable name.
        fs::rename(module_dir.join("_.rs"), module_dir.join("messages.rs"))?;
        fs::write(module_dir.join("layouts.rs"), layouts(&fds))?;
    }
    Ok(())
}

/// Every message of the set, nested ones included, in declaration order (a parent before its
/// nested messages), as (full proto name, descriptor).
fn messages(fds: &FileDescriptorSet) -> Vec<(String, &DescriptorProto)> {
    fn walk<'a>(
        prefix: &str,
        msgs: &'a [DescriptorProto],
        out: &mut Vec<(String, &'a DescriptorProto)>,
    ) {
        for m in msgs {
            let name = if prefix.is_empty() {
                m.name().to_string()
            } else {
                format!("{prefix}.{}", m.name())
            };
            out.push((name.clone(), m));
            walk(&name, &m.nested_type, out);
        }
    }
    let mut out = Vec::new();
    for file in &fds.file {
        assert!(
            file.package().is_empty(),
            "the wire schemas have no package; {} has one",
            file.name()
        );
        walk("", &file.message_type, &mut out);
    }
    out
}

/// The Rust path prost-build gives a message (its own rule: UpperCamelCase per segment, nested
/// messages in a snake_case module of their parent).
fn rust_path(proto_name: &str) -> String {
    let segments: Vec<&str> = proto_name.split('.').collect();
    let (last, parents) = segments.split_last().expect("non-empty name");
    let mut path: Vec<String> = parents
        .iter()
        .map(|p| heck::ToSnakeCase::to_snake_case(*p))
        .collect();
    let mut ident = last.to_upper_camel_case();
    if ident == "Self" {
        ident.push('_');
    }
    path.push(ident);
    path.join("::")
}

fn static_name(proto_name: &str) -> String {
    format!("LAYOUT_{}", proto_name.replace('.', "_").to_uppercase())
}

/// The Rust name prost-build gives a field (snake_case, raw identifier for keywords).
fn field_ident(name: &str) -> String {
    let ident = heck::ToSnakeCase::to_snake_case(name);
    match ident.as_str() {
        "self" | "super" | "extern" | "crate" => format!("{ident}_"),
        "as" | "break" | "const" | "continue" | "else" | "enum" | "false" | "fn" | "for" | "if"
        | "impl" | "in" | "let" | "loop" | "match" | "mod" | "move" | "mut" | "pub" | "ref"
        | "return" | "static" | "struct" | "trait" | "true" | "type" | "unsafe" | "use"
        | "where" | "while" | "abstract" | "become" | "box" | "do" | "final" | "macro"
        | "override" | "priv" | "typeof" | "unsized" | "virtual" | "yield" | "try" | "async"
        | "await" | "dyn" | "gen" => format!("r#{ident}"),
        _ => ident,
    }
}

/// An expression over `self` that is true only if every required field, here and in nested
/// messages, holds a non-default value: prost starts from defaults, so such a value proves the
/// field was on the wire and the byte scan can be skipped. False means "scan to be sure".
fn evident(msg: &DescriptorProto) -> String {
    let mut terms = Vec::new();
    for f in &msg.field {
        let ident = field_ident(f.name());
        let required = f.label() == Label::Required;
        let repeated = f.label() == Label::Repeated;
        let term = match f.r#type() {
            Type::Message | Type::Group if repeated => {
                format!("self.{ident}.iter().all(crate::WireMessage::required_evident)")
            }
            Type::Message | Type::Group if required => {
                format!("self.{ident}.as_ref().is_some_and(crate::WireMessage::required_evident)")
            }
            Type::Message | Type::Group => {
                format!("self.{ident}.as_ref().is_none_or(crate::WireMessage::required_evident)")
            }
            _ if !required => continue,
            Type::Bool => format!("self.{ident}"),
            Type::String | Type::Bytes => format!("!self.{ident}.is_empty()"),
            Type::Float | Type::Double => format!("self.{ident} != 0.0"),
            _ => format!("self.{ident} != 0"),
        };
        terms.push(term);
    }
    if terms.is_empty() {
        "true".to_string()
    } else {
        terms.join("\n            && ")
    }
}

fn layouts(fds: &FileDescriptorSet) -> String {
    let msgs = messages(fds);
    let mut out =
        String::from("// @generated by weshop-proto's build.rs: required-field layouts.\n\n");
    for (name, msg) in &msgs {
        let mut fields = String::new();
        let mut bit = 0u32;
        for f in &msg.field {
            let required = f.label() == Label::Required;
            let nested = matches!(f.r#type(), Type::Message | Type::Group);
            if !required && !nested {
                continue;
            }
            let message = if nested {
                let target = f.type_name().trim_start_matches('.');
                format!("Some(&{})", static_name(target))
            } else {
                "None".to_string()
            };
            let field_bit = if required {
                bit += 1;
                assert!(bit <= 64, "{name}: more than 64 required fields");
                format!("Some({})", bit - 1)
            } else {
                "None".to_string()
            };
            writeln!(
                fields,
                "        crate::layout::FieldLayout {{ number: {}, name: {:?}, required_bit: {field_bit}, message: {message} }},",
                f.number(),
                f.name()
            )
            .unwrap();
        }
        let mask = if bit == 64 {
            u64::MAX
        } else {
            (1u64 << bit) - 1
        };
        writeln!(
            out,
            "pub(crate) static {}: crate::layout::MessageLayout = crate::layout::MessageLayout {{\n    name: {name:?},\n    required_mask: {mask:#x},\n    fields: &[\n{fields}    ],\n}};",
            static_name(name)
        )
        .unwrap();
        writeln!(
            out,
            "impl crate::WireMessage for {} {{\n    const LAYOUT: &'static crate::layout::MessageLayout = &{};\n\n    fn required_evident(&self) -> bool {{\n        {}\n    }}\n}}\n",
            rust_path(name),
            static_name(name),
            evident(msg)
        )
        .unwrap();
    }
    out.push_str(
        "/// Calls `visitor` with the Rust type of the message named `name` (its full proto name).\n\
         pub(crate) fn visit_message<V: crate::MessageVisitor>(name: &str, visitor: V) -> Option<V::Output> {\n    match name {\n",
    );
    for (name, _) in &msgs {
        writeln!(
            out,
            "        {name:?} => Some(visitor.visit::<{}>()),",
            rust_path(name)
        )
        .unwrap();
    }
    out.push_str("        _ => None,\n    }\n}\n\n/// Full proto names of every message in this schema, in declaration order.\npub(crate) const MESSAGE_NAMES: &[&str] = &[\n");
    for (n, _) in &msgs {
        writeln!(out, "    {n:?},").unwrap();
    }
    out.push_str("];\n");
    out
}
