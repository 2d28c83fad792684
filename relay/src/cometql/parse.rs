//! One CometQL statement, parsed by sqlparser's MySQL dialect, turned into an [`Op`] on one of
//! CppComet's tables. Only the shapes CppComet documents are accepted: `INSERT`/`REPLACE …
//! VALUES`, `SELECT … WHERE key = v` or `key IN (…)`, `DELETE … WHERE` the same, `SHOW
//! STATUS`; anything else gets an error naming what is not supported.

use sqlparser::ast::{
    BinaryOperator, Expr, FromTable, InTarget, ObjectName, ObjectNamePart, SelectItem, SetExpr,
    Statement, TableFactor, TableObject, Value,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::schema::Table;
use super::{CqlError, ErrCode};

/// What a statement asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Op {
    /// Rows of `(column, value)`, every value as text.
    Insert {
        table: Table,
        rows: Vec<Vec<(String, String)>>,
    },
    /// `columns` empty means `*`.
    Select {
        table: Table,
        columns: Vec<String>,
        keys: Vec<String>,
    },
    Delete {
        table: Table,
        keys: Vec<String>,
    },
    ShowStatus,
    /// `SET …` (clients send `SET NAMES` and the like): accepted and ignored.
    Set,
    /// `SELECT @@name, …` without a table, as client libraries send on connect.
    Variables(Vec<String>),
}

fn syntax(msg: impl Into<String>) -> CqlError {
    CqlError::new(ErrCode::Syntax, msg)
}

fn unsupported(msg: impl Into<String>) -> CqlError {
    CqlError::new(ErrCode::NotImplemented, msg)
}

pub fn parse(sql: &str) -> Result<Op, CqlError> {
    let mut statements = Parser::parse_sql(&MySqlDialect {}, sql)
        .map_err(|e| syntax(format!("Error in sql query: {e}")))?;
    if statements.len() != 1 {
        return Err(syntax("Error in sql query: send one statement per query"));
    }
    match statements.remove(0) {
        Statement::Insert(ins) => {
            let TableObject::TableName(name) = &ins.table else {
                return Err(unsupported("insert into a table function is not supported"));
            };
            let table = table(name)?;
            let source = ins
                .source
                .as_ref()
                .ok_or_else(|| unsupported("only INSERT … VALUES is supported"))?;
            let SetExpr::Values(values) = source.body.as_ref() else {
                return Err(unsupported("only INSERT … VALUES is supported"));
            };
            let columns: Vec<String> = if ins.columns.is_empty() {
                table
                    .insert_columns()
                    .iter()
                    .map(|c| c.to_string())
                    .collect()
            } else {
                ins.columns
                    .iter()
                    .map(|c| ident(c).map(str::to_ascii_lowercase))
                    .collect::<Result<_, _>>()?
            };
            let mut rows = Vec::with_capacity(values.rows.len());
            for row in &values.rows {
                if row.content.len() != columns.len() {
                    return Err(CqlError::new(
                        ErrCode::Columns,
                        "Error in the enumeration list of columns: values do not match columns",
                    ));
                }
                let vals = row
                    .content
                    .iter()
                    .map(literal)
                    .collect::<Result<Vec<_>, _>>()?;
                rows.push(columns.iter().cloned().zip(vals).collect());
            }
            Ok(Op::Insert { table, rows })
        }
        Statement::Query(q) => {
            let SetExpr::Select(sel) = q.body.as_ref() else {
                return Err(unsupported("only a plain SELECT is supported"));
            };
            if sel.from.is_empty() {
                return variables(&sel.projection);
            }
            if sel.from.len() != 1 || !sel.from[0].joins.is_empty() {
                return Err(unsupported("joins are not supported"));
            }
            let TableFactor::Table { name, .. } = &sel.from[0].relation else {
                return Err(unsupported("select from a table by name"));
            };
            let table = table(name)?;
            let mut columns = Vec::new();
            for item in &sel.projection {
                match item {
                    SelectItem::Wildcard(_) => {
                        return where_keys(table, &sel.selection).map(|keys| Op::Select {
                            table,
                            columns: Vec::new(),
                            keys,
                        });
                    }
                    SelectItem::UnnamedExpr(Expr::Identifier(i)) => {
                        columns.push(i.value.to_ascii_lowercase())
                    }
                    _ => {
                        return Err(CqlError::new(
                            ErrCode::Columns,
                            "select columns by name or *",
                        ));
                    }
                }
            }
            let keys = where_keys(table, &sel.selection)?;
            Ok(Op::Select {
                table,
                columns,
                keys,
            })
        }
        Statement::Delete(del) => {
            let from = match &del.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
            };
            if from.len() != 1 || !from[0].joins.is_empty() || !del.tables.is_empty() {
                return Err(unsupported("delete from one table"));
            }
            let TableFactor::Table { name, .. } = &from[0].relation else {
                return Err(unsupported("delete from a table by name"));
            };
            let table = table(name)?;
            let keys = where_keys(table, &del.selection)?;
            Ok(Op::Delete { table, keys })
        }
        Statement::ShowStatus { .. } => Ok(Op::ShowStatus),
        Statement::Set(_) => Ok(Op::Set),
        _ => Err(unsupported(
            "This feature is not implemented: CometQL supports INSERT, REPLACE, SELECT, DELETE and SHOW STATUS",
        )),
    }
}

fn ident(name: &ObjectName) -> Result<&str, CqlError> {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(i)) => Ok(&i.value),
        _ => Err(syntax("Error in sql query: expected a name")),
    }
}

fn table(name: &ObjectName) -> Result<Table, CqlError> {
    let n = ident(name)?;
    Table::named(n)
        .ok_or_else(|| CqlError::new(ErrCode::NotExist, format!("Table {n:?} doesn't exist")))
}

/// A literal as text: strings and numbers are what CometQL's columns hold.
fn literal(e: &Expr) -> Result<String, CqlError> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(s.clone()),
            Value::Number(n, _) => Ok(n.clone()),
            _ => Err(CqlError::new(
                ErrCode::InvalidData,
                "Invalid data format: give a string or a number",
            )),
        },
        Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Minus,
            expr,
        } => literal(expr).map(|v| format!("-{v}")),
        _ => Err(CqlError::new(
            ErrCode::InvalidData,
            "Invalid data format: give a string or a number",
        )),
    }
}

/// `WHERE key = v` or `WHERE key IN (v, …)`, `key` being the table's first column.
fn where_keys(table: Table, selection: &Option<Expr>) -> Result<Vec<String>, CqlError> {
    let missing = || {
        CqlError::new(
            ErrCode::WhereList,
            format!(
                "In the where section is not given a list of strings that must be selected: use `where {} = …` or `where {} in (…)`",
                table.key(),
                table.key()
            ),
        )
    };
    let key_column =
        |e: &Expr| matches!(e, Expr::Identifier(i) if i.value.eq_ignore_ascii_case(table.key()));
    match selection {
        Some(Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        }) if key_column(left) => Ok(vec![literal(right)?]),
        Some(Expr::In {
            expr,
            target: InTarget::List(list),
            negated: false,
            ..
        }) if key_column(expr) => list.iter().map(literal).collect(),
        Some(Expr::Nested(inner)) => where_keys(table, &Some((**inner).clone())),
        _ => Err(missing()),
    }
}

fn variables(items: &[SelectItem]) -> Result<Op, CqlError> {
    let mut names = Vec::new();
    for item in items {
        let e = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => return Err(unsupported("select from a table")),
        };
        match e {
            Expr::Identifier(i) if i.value.starts_with("@@") => names.push(i.value.clone()),
            Expr::CompoundIdentifier(parts)
                if parts.first().is_some_and(|p| p.value.starts_with("@@")) =>
            {
                names.push(
                    parts
                        .iter()
                        .map(|p| p.value.as_str())
                        .collect::<Vec<_>>()
                        .join("."),
                )
            }
            _ => return Err(unsupported("select from a table")),
        }
    }
    Ok(Op::Variables(names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_statements() {
        assert_eq!(
            parse("insert into users_messages (id, event, message) values (2, 'ev', \"hi\")").ok(),
            Some(Op::Insert {
                table: Table::UsersMessages,
                rows: vec![vec![
                    ("id".into(), "2".into()),
                    ("event".into(), "ev".into()),
                    ("message".into(), "hi".into())
                ]]
            })
        );
        assert_eq!(
            parse("select * from users_time where id in( 2, 3, 145)").ok(),
            Some(Op::Select {
                table: Table::UsersTime,
                columns: vec![],
                keys: vec!["2".into(), "3".into(), "145".into()]
            })
        );
        assert_eq!(
            parse("delete from pipes_settings where name = 'p10'").ok(),
            Some(Op::Delete {
                table: Table::PipesSettings,
                keys: vec!["p10".into()]
            })
        );
        assert_eq!(parse("show status").ok(), Some(Op::ShowStatus));
        assert!(matches!(
            parse("REPLACE INTO users_auth (id, hash) VALUES (1, 'auth_hash1')"),
            Ok(Op::Insert {
                table: Table::UsersAuth,
                ..
            })
        ));
    }

    #[test]
    fn errors_carry_cometql_codes() {
        let code = |sql: &str| parse(sql).err().map(|e| e.code);
        assert_eq!(code("selec * from pipes"), Some(ErrCode::Syntax));
        assert_eq!(
            code("select * from nope where id = 1"),
            Some(ErrCode::NotExist)
        );
        assert_eq!(code("select * from pipes"), Some(ErrCode::WhereList));
        assert_eq!(
            code("select * from pipes where users = 1"),
            Some(ErrCode::WhereList)
        );
        assert_eq!(code("drop table pipes"), Some(ErrCode::NotImplemented));
        assert_eq!(code("select 1; select 2"), Some(ErrCode::Syntax));
        assert_eq!(
            code("insert into pipes_messages (name, event) values ('a', 'b', 'c')"),
            Some(ErrCode::Columns)
        );
    }
}
