//! The page shell and the pieces pages share.

use maud::{DOCTYPE, Markup, html};
use shareledger_domain::Actor;

use super::Csrf;

/// A whole page: title, header (with the signed-in person's navigation), main content.
pub fn page(title: &str, user: Option<&Actor>, csrf: &Csrf, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · shareledger" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    div.bar {
                        a.brand href="/" { "shareledger" }
                        @if let Some(user) = user {
                            nav aria-label="Main" {
                                a href="/drive" { "My Drive" }
                                a href="/links" { "My Share Links" }
                                @if super::admin::is_admin(user) { a href="/admin" { "Admin" } }
                            }
                            span.muted { "Signed in as " strong { (user.display_name) } }
                            form method="post" action="/signout" {
                                input type="hidden" name="csrf" value=(csrf.token);
                                button.secondary type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (content) }
            }
        }
    }
}

/// A hidden form field with the CSRF token.
pub fn csrf_field(csrf: &Csrf) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf.token); }
}

/// An error box, announced to screen readers.
pub fn error(text: &str) -> Markup {
    html! { div.alert.error role="alert" { (text) } }
}

/// A size in bytes, for people.
pub fn size(bytes: Option<i64>) -> String {
    let Some(b) = bytes else { return String::new() };
    let b = b as f64;
    if b < 1024.0 {
        format!("{b} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.1} GB", b / 1024.0 / 1024.0 / 1024.0)
    }
}

/// A time for people: `2026-11-27 10:00 UTC`.
pub fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}
