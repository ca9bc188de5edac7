//! The machinery behind the one table of settings (`settings.rs`): the `settings!`
//! macro derives the file's keys, the layering and the documentation from it.

use std::path::PathBuf;

use super::ConfigError;

/// One setting as documented: what the sample config, `helpstack config keys` and the
/// man page are written from.
#[derive(Debug)]
pub struct Setting {
    /// The key in the config file.
    pub key: &'static str,
    /// The value's type, in words.
    pub kind: &'static str,
    /// Environment variables, highest priority first.
    pub env: &'static [&'static str],
    /// What the setting does, one paragraph (doc comment lines, joined with spaces).
    pub doc: &'static [&'static str],
    /// Shown redacted by `helpstack config show`; empty counts as unset in the file too.
    pub secret: bool,
    /// The built-in default, `None` for "unset".
    pub default: fn() -> Option<toml::Value>,
    /// The key whose value is taken when this one is unset after the whole chain.
    pub fallback: Option<&'static str>,
    /// What "unset" means, when it is more than "none".
    pub unset: Option<&'static str>,
    /// A value for the sample config's commented line, TOML syntax (else the default).
    pub example: Option<&'static str>,
    /// A value the sample config sets (uncommented), TOML syntax.
    pub sample: Option<&'static str>,
}

impl Setting {
    /// Returns the doc comment as one paragraph.
    pub fn doc_text(&self) -> String {
        let parts: Vec<&str> = self.doc.iter().map(|l| l.trim()).collect();
        parts.join(" ")
    }

    /// Describes the default in words: the value, or what happens when unset.
    pub fn default_text(&self) -> String {
        match ((self.default)(), self.fallback, self.unset) {
            (Some(v), _, _) => plain(&v),
            (None, Some(fb), _) => format!("the value of {fb}"),
            (None, None, Some(text)) => text.to_string(),
            (None, None, None) => "none".to_string(),
        }
    }

    /// Returns the command-line flag that sets this key.
    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }
}

/// A TOML value as a person reads it: strings without quotes.
pub fn plain(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File,
    Env(&'static str),
    Flag,
    /// Unset everywhere, so the named key's value was taken.
    Fallback(&'static str),
}

/// A layered value and its source.
#[derive(Debug, Clone)]
pub struct Value<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Value<T> {
    /// Names the value in an error: the variable it came from, else the file key.
    pub fn name_for(&self, key: &'static str) -> &'static str {
        match self.source {
            Source::Env(var) => var,
            _ => key,
        }
    }
}

/// A type a setting can have: how it reads from an environment variable.
pub trait Kind: Sized + Clone + serde::Serialize {
    /// The type in words, for the documentation.
    const KIND: &'static str;
    /// Parses an environment variable's (non-empty) value.
    fn parse_env(var: &str, value: &str) -> Result<Self, ConfigError>;
    /// Whether a secret with this value counts as unset.
    fn is_blank(&self) -> bool {
        false
    }
}

impl Kind for String {
    const KIND: &'static str = "string";
    fn parse_env(_: &str, value: &str) -> Result<Self, ConfigError> {
        Ok(value.to_string())
    }
    fn is_blank(&self) -> bool {
        self.is_empty()
    }
}

impl Kind for PathBuf {
    const KIND: &'static str = "path";
    fn parse_env(_: &str, value: &str) -> Result<Self, ConfigError> {
        Ok(PathBuf::from(value))
    }
}

impl Kind for Vec<String> {
    const KIND: &'static str = "list of strings";
    fn parse_env(_: &str, value: &str) -> Result<Self, ConfigError> {
        Ok(value
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect())
    }
}

macro_rules! parsed_kind {
    ($($t:ty => $name:literal),*) => {$(
        impl Kind for $t {
            const KIND: &'static str = $name;
            fn parse_env(var: &str, value: &str) -> Result<Self, ConfigError> {
                super::parse_env(var, value)
            }
        }
    )*};
}
parsed_kind!(u64 => "integer", u32 => "integer", usize => "integer", bool => "boolean");

/// The highest layer that sets a value: flag, then the first set environment variable,
/// then the file. Empty environment values are unset, and so are empty secrets.
pub fn pick<T: Kind>(
    secret: bool,
    env_names: &'static [&'static str],
    flag: Option<T>,
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<T>,
) -> Result<Option<Value<T>>, ConfigError> {
    if let Some(value) = flag {
        return Ok(Some(Value {
            value,
            source: Source::Flag,
        }));
    }
    for var in env_names {
        if let Some(raw) = env(var).filter(|v| !v.is_empty()) {
            return Ok(Some(Value {
                value: T::parse_env(var, &raw)?,
                source: Source::Env(var),
            }));
        }
    }
    Ok(file
        .filter(|v| !(secret && v.is_blank()))
        .map(|value| Value {
            value,
            source: Source::File,
        }))
}

/// Renders a value as TOML (settings' types always serialize).
pub fn to_toml<T: serde::Serialize>(value: &T) -> toml::Value {
    toml::Value::try_from(value).expect("a setting's value serializes")
}

/// Defines every setting once. Each entry: doc comment, `key: Type [= default]`, then
/// `secret = true`, `env [names]`, and optionally `fallback key`, `unset "words"`,
/// `example "toml"`, `sample "toml"`. Generates `FileConfig` (the file's keys),
/// `Layered` (each value with its source), `layer()` and `SETTINGS`.
macro_rules! settings {
    (@ty $t:ty, $d:expr) => { $t };
    (@ty $t:ty) => { Option<$t> };
    (@finish $p:expr, $d:expr) => {
        match $p {
            Some(v) => v,
            None => Value { value: $d, source: Source::Default },
        }
    };
    (@finish $p:expr) => {
        match $p {
            Some(Value { value, source }) => Value { value: Some(value), source },
            None => Value { value: None, source: Source::Default },
        }
    };
    (@toml $v:expr, $d:expr) => { Some(to_toml(&$v)) };
    (@toml $v:expr) => { $v.as_ref().map(to_toml) };
    (@default $t:ty, $d:expr) => { || { let d: $t = $d; Some(to_toml(&d)) } };
    (@default $t:ty) => { || None };
    (@opt $x:expr) => { Some($x) };
    (@opt) => { None };
    (
        $(
            $(#[doc = $doc:literal])*
            $key:ident : $t:ty $(= $default:expr)?
                $(, secret = $secret:literal)?
                , env [$($env:literal),*]
                $(, fallback $fallback:ident)?
                $(, unset $unset:literal)?
                $(, example $example:literal)?
                $(, sample $sample:literal)?
            ;
        )*
    ) => {
        /// The keys a config file may contain. Unknown keys are an error.
        #[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct FileConfig {
            $(pub $key: Option<$t>,)*
        }

        impl FileConfig {
            /// Every key a config file may contain.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($key)),*];
        }

        /// Every setting after layering, with where its value came from.
        #[derive(Debug, Clone)]
        pub struct Layered {
            $(pub $key: Value<settings!(@ty $t $(, $default)?)>,)*
        }

        /// Every setting, in the order of the sample config.
        pub static SETTINGS: &[Setting] = &[$(
            Setting {
                key: stringify!($key),
                kind: <$t as Kind>::KIND,
                env: &[$($env),*],
                doc: &[$($doc),*],
                secret: false $(|| $secret)?,
                default: settings!(@default $t $(, $default)?),
                fallback: settings!(@opt $(stringify!($fallback))?),
                unset: settings!(@opt $($unset)?),
                example: settings!(@opt $($example)?),
                sample: settings!(@opt $($sample)?),
            },
        )*];

        /// Layers flags over the environment over the file over the defaults, then
        /// applies the fallbacks.
        pub fn layer(
            file: FileConfig,
            flags: FileConfig,
            env: &dyn Fn(&str) -> Option<String>,
        ) -> Result<Layered, ConfigError> {
            #[allow(unused_mut)]
            let mut layered = Layered {$(
                $key: {
                    let secret = false $(|| $secret)?;
                    let picked = pick(secret, &[$($env),*], flags.$key, env, file.$key)?;
                    settings!(@finish picked $(, $default)?)
                },
            )*};
            $($(
                if layered.$key.value.is_none() && layered.$fallback.value.is_some() {
                    layered.$key = Value {
                        value: layered.$fallback.value.clone(),
                        source: Source::Fallback(stringify!($fallback)),
                    };
                }
            )?)*
            Ok(layered)
        }

        impl Layered {
            /// Each key's value as TOML (`None`: unset) and its source, in table order.
            pub fn entries(&self) -> Vec<(&'static str, Option<toml::Value>, &Source)> {
                vec![$(
                    (stringify!($key), settings!(@toml self.$key.value $(, $default)?), &self.$key.source),
                )*]
            }
        }
    };
}
pub(crate) use settings;
