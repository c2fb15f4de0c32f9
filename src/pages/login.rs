//! `/login`: sign in, or create an account; either lands on the board.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;

use crate::components::Brand;
use crate::taskwire::Taskwire;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    SignIn,
    CreateAccount,
}

impl Mode {
    fn action(self) -> &'static str {
        match self {
            Self::SignIn => "Sign in",
            Self::CreateAccount => "Create account",
        }
    }
}

#[component]
pub fn Login() -> impl IntoView {
    let tw = Taskwire::expect();
    let mode = RwSignal::new(Mode::SignIn);
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    // Why the person is here, when a session ended without them asking.
    let problem = RwSignal::new(tw.take_ended());
    let busy = RwSignal::new(false);
    let restoring = tw.restoring();
    let owed = tw.sign_out_owed();
    // In place of /login, so that Back does not return to the form.
    let to_board = {
        let navigate = use_navigate();
        move || {
            navigate(
                "/",
                NavigateOptions {
                    replace: true,
                    ..NavigateOptions::default()
                },
            )
        }
    };
    // Someone already signed in has nothing to do here (Back after signing in): on to
    // the board. Read once: a session restored while the page shows (a reload of
    // /login) leaves the form where it is.
    if tw.user().get_untracked().is_some() {
        Effect::new({
            let to_board = to_board.clone();
            move || to_board()
        });
    }

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (name, secret) = (username.get_untracked(), password.get_untracked());
        let mode = mode.get_untracked();
        if let Some(text) = check(mode, &name, &secret) {
            problem.set(Some(text));
            return;
        }
        problem.set(None);
        busy.set(true);
        let to_board = to_board.clone();
        spawn_local(async move {
            let outcome = match mode {
                Mode::SignIn => tw.sign_in(name, secret).await,
                Mode::CreateAccount => tw.register(name, secret).await,
            };
            busy.set(false);
            match outcome {
                Ok(()) => to_board(),
                Err(error) => problem.set(Some(error.to_string())),
            }
        });
    };
    let switch = move |_| {
        mode.update(|m| {
            *m = match m {
                Mode::SignIn => Mode::CreateAccount,
                Mode::CreateAccount => Mode::SignIn,
            }
        });
        problem.set(None);
    };

    view! {
        <main class="auth">
            <div class="card auth-card">
                <Brand />
                <h1>{move || mode.get().action()}</h1>
                <p class="muted">
                    {move || match mode.get() {
                        Mode::SignIn => "Your tasks, live on every device.",
                        Mode::CreateAccount => "Pick a name and a password of at least 8 characters.",
                    }}
                </p>
                <form class="auth-form" on:submit=submit>
                    <label class="field">
                        <span class="field-label">"Username"</span>
                        <input
                            type="text"
                            name="username"
                            autocomplete="username"
                            autocapitalize="none"
                            spellcheck="false"
                            prop:value=username
                            on:input=move |ev| username.set(event_target_value(&ev))
                        />
                    </label>
                    <label class="field">
                        <span class="field-label">"Password"</span>
                        <input
                            type="password"
                            name="password"
                            autocomplete=move || match mode.get() {
                                Mode::SignIn => "current-password",
                                Mode::CreateAccount => "new-password",
                            }
                            prop:value=password
                            on:input=move |ev| password.set(event_target_value(&ev))
                        />
                    </label>
                    {move || problem.get().map(|text| view! { <p class="alert" role="alert">{text}</p> })}
                <Show when=move || owed.get()>
                    <p class="notice" role="status">
                        "You are signed out on this device. The session will end on the server as soon as this device is back online."
                    </p>
                </Show>
                    // Also held while the page-load refresh runs, so its answer cannot
                    // land on top of a fresh sign-in.
                    <button
                        type="submit"
                        class="button primary wide"
                        disabled=move || busy.get() || restoring.get()
                        aria-busy=move || busy.get().then_some("true")
                    >
                        {move || mode.get().action()}
                    </button>
                </form>
                <p class="auth-switch">
                    {move || match mode.get() {
                        Mode::SignIn => "No account yet?",
                        Mode::CreateAccount => "Already have an account?",
                    }}
                    " "
                    <button type="button" class="link-button" on:click=switch>
                        {move || match mode.get() {
                            Mode::SignIn => "Create one",
                            Mode::CreateAccount => "Sign in instead",
                        }}
                    </button>
                </p>
            </div>
        </main>
    }
}

/// What can be told before asking the server.
fn check(mode: Mode, username: &str, password: &str) -> Option<String> {
    if username.is_empty() || password.is_empty() {
        return Some("Enter a username and a password.".to_owned());
    }
    if mode == Mode::CreateAccount {
        let valid = protocol::validate_username(username)
            .and_then(|()| protocol::validate_password(password));
        return valid.err().map(|error| error.to_string());
    }
    None
}
