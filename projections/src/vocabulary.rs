//! [`typed_vocabulary!`]: one list of kinds declares a kind enum and a typed enum over their
//! bodies. The domain's events ([`crate::events::DomainEvent`]) and commands (`commands`'
//! `DomainCommand`) are both declared with it, so the two vocabularies cannot drift apart in how
//! they are named, parsed, serialised, decoded or described by JSON Schemas.

/// What the expansion of [`typed_vocabulary!`] needs, re-exported so that a caller's own
/// dependencies do not matter.
#[doc(hidden)]
pub mod __private {
    pub use schemars;
    pub use serde;
    pub use serde_json;
    pub use serde_path_to_error;

    /// A body of `kind` that does not decode, naming the member at fault.
    pub fn member_error(kind: &str, e: serde_path_to_error::Error<serde_json::Error>) -> String {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            format!("`{kind}` body: {inner}")
        } else {
            format!("`{kind}` body: `{path}`: {inner}")
        }
    }
}

/// Declares a vocabulary once:
///
/// ```text
/// typed_vocabulary! {
///     kinds: EventKind, values: DomainEvent, what: "domain event";
///     /// `dataset.registered`.
///     DatasetRegistered = "dataset.registered" => DatasetRegistered,
///     ...
/// }
/// ```
///
/// gives `EventKind` (`ALL`, `as_str`, `parse`, `schema`, `Display`, serde as its name) and
/// `DomainEvent` (one variant per kind holding its typed body: `kind`, `to_json`, `decode`).
#[macro_export]
macro_rules! typed_vocabulary {
    (
        kinds: $Kind:ident, values: $Value:ident, what: $what:literal;
        $( $(#[$doc:meta])* $variant:ident = $name:literal => $body:ty, )*
    ) => {
        #[doc = concat!("Every ", $what, " kind.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $Kind {
            $( $(#[$doc])* $variant, )*
        }

        impl $Kind {
            /// Every kind, in the order of the vocabulary.
            pub const ALL: &'static [$Kind] = &[$($Kind::$variant,)*];

            /// The kind's name as written in the ledger.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($Kind::$variant => $name,)*
                }
            }

            /// The kind named `name`, if it is one of this vocabulary.
            pub fn parse(name: &str) -> Option<$Kind> {
                match name {
                    $($name => Some($Kind::$variant),)*
                    _ => None,
                }
            }

            /// The JSON Schema of the kind's body.
            pub fn schema(self) -> $crate::vocabulary::__private::serde_json::Value {
                let schema = match self {
                    $($Kind::$variant => $crate::vocabulary::__private::schemars::schema_for!($body),)*
                };
                $crate::vocabulary::__private::serde_json::to_value(schema)
                    .unwrap_or($crate::vocabulary::__private::serde_json::Value::Null)
            }
        }

        impl ::std::fmt::Display for $Kind {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::vocabulary::__private::serde::Serialize for $Kind {
            fn serialize<S>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error>
            where
                S: $crate::vocabulary::__private::serde::Serializer,
            {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::vocabulary::__private::serde::Deserialize<'de> for $Kind {
            fn deserialize<D>(d: D) -> ::std::result::Result<$Kind, D::Error>
            where
                D: $crate::vocabulary::__private::serde::Deserializer<'de>,
            {
                // A visitor rather than a `String`: the name is read in place where the
                // format allows it (a snapshot holds one kind per event of a version's history).
                struct Name;
                impl<'de> $crate::vocabulary::__private::serde::de::Visitor<'de> for Name {
                    type Value = $Kind;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(concat!("the name of a ", $what, " kind"))
                    }
                    fn visit_str<E>(self, name: &str) -> ::std::result::Result<$Kind, E>
                    where
                        E: $crate::vocabulary::__private::serde::de::Error,
                    {
                        $Kind::parse(name)
                            .ok_or_else(|| E::custom(format!(concat!("`{}` is not a ", $what, " kind"), name)))
                    }
                }
                d.deserialize_str(Name)
            }
        }

        #[doc = concat!("A ", $what, ": its kind and its body, typed.")]
        // Built once and handled once; boxing the large bodies would only add an allocation.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, PartialEq)]
        pub enum $Value {
            $( $(#[$doc])* $variant($body), )*
        }

        impl $Value {
            /// Its kind.
            pub fn kind(&self) -> $Kind {
                match self {
                    $($Value::$variant(_) => $Kind::$variant,)*
                }
            }

            /// Its body as JSON. Bodies are plain data: this fails only on a bug.
            pub fn to_json(
                &self,
            ) -> ::std::result::Result<
                $crate::vocabulary::__private::serde_json::Value,
                $crate::vocabulary::__private::serde_json::Error,
            > {
                match self {
                    $($Value::$variant(b) => $crate::vocabulary::__private::serde_json::to_value(b),)*
                }
            }

            /// Decodes a body of `kind`. Fails when the body is not exactly the kind's type
            /// (unknown or missing members, wrong types), naming the kind and the member at fault.
            pub fn decode(
                kind: $Kind,
                body: &$crate::vocabulary::__private::serde_json::Value,
            ) -> ::std::result::Result<$Value, String> {
                use $crate::vocabulary::__private::{member_error, serde::Deserialize, serde_path_to_error};
                let at = |e| member_error(kind.as_str(), e);
                // The plain decoder first (the common case); on failure again, to name the member.
                Ok(match kind {
                    $($Kind::$variant => $Value::$variant(match <$body>::deserialize(body) {
                        Ok(b) => b,
                        Err(_) => serde_path_to_error::deserialize(body).map_err(at)?,
                    }),)*
                })
            }

            /// [`Self::decode`] from the body's JSON text, without building a JSON value
            /// first (what rebuilds do: half the decoding). The same errors, naming the
            /// member that does not decode.
            pub fn decode_str(kind: $Kind, body: &str) -> ::std::result::Result<$Value, String> {
                use $crate::vocabulary::__private::{member_error, serde::Deserialize, serde_json, serde_path_to_error};
                let at = |e| member_error(kind.as_str(), e);
                fn plain<'de, T: Deserialize<'de>>(body: &'de str) -> serde_json::Result<T> {
                    let mut de = serde_json::Deserializer::from_str(body);
                    let t = T::deserialize(&mut de)?;
                    de.end()?;
                    Ok(t)
                }
                fn named<'de, T: Deserialize<'de>>(
                    body: &'de str,
                ) -> ::std::result::Result<T, serde_path_to_error::Error<serde_json::Error>> {
                    let mut de = serde_json::Deserializer::from_str(body);
                    serde_path_to_error::deserialize(&mut de)
                }
                Ok(match kind {
                    $($Kind::$variant => $Value::$variant(match plain::<$body>(body) {
                        Ok(b) => b,
                        Err(e) => match named::<$body>(body) {
                            Ok(_) => return Err(format!("`{}` body: {e}", kind.as_str())),
                            Err(e) => return Err(at(e)),
                        },
                    }),)*
                })
            }
        }
    };
}
