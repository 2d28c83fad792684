//! CppComet's tables and their columns: what a statement may name, shared by the parser and
//! the operations.

/// CppComet's tables. Names and columns are CppComet's, in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    PipesMessages,
    Pipes,
    UsersInPipes,
    PipesSettings,
    UsersMessages,
    UsersAuth,
    UsersTime,
    UsersData,
}

impl Table {
    pub fn named(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "pipes_messages" => Table::PipesMessages,
            "pipes" => Table::Pipes,
            "users_in_pipes" => Table::UsersInPipes,
            "pipes_settings" => Table::PipesSettings,
            "users_messages" => Table::UsersMessages,
            "users_auth" => Table::UsersAuth,
            "users_time" => Table::UsersTime,
            "users_data" => Table::UsersData,
            _ => return None,
        })
    }

    /// Every column, the key (what `WHERE` names) first.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Table::PipesMessages => &["name", "index", "event", "message"],
            Table::Pipes => &["name", "users"],
            Table::UsersInPipes => &["name", "user_id"],
            Table::PipesSettings => &["name", "length"],
            Table::UsersMessages => &["id", "index", "event", "message"],
            Table::UsersAuth => &["id", "hash"],
            Table::UsersTime => &["id", "time"],
            Table::UsersData => &["id", "data"],
        }
    }

    pub fn key(self) -> &'static str {
        self.columns()[0]
    }

    /// The columns an `INSERT` without a column list fills, in order.
    pub fn insert_columns(self) -> &'static [&'static str] {
        match self {
            Table::PipesMessages => &["name", "event", "message"],
            Table::UsersMessages => &["id", "event", "message"],
            Table::PipesSettings => &["name", "length"],
            Table::UsersAuth => &["id", "hash"],
            Table::UsersData => &["id", "data"],
            Table::Pipes | Table::UsersInPipes | Table::UsersTime => &[],
        }
    }
}
