//! Chat prompts rendered with the model's own template (`tokenizer.chat_template`, Jinja),
//! the way the model was fine-tuned to see conversations.

use minijinja::{Environment, ErrorKind, Value};

pub use songforge_inference::contract::llm::Message;

/// Why a conversation could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The template does not parse or failed while rendering (e.g. `raise_exception` for a
    /// role order the model does not accept).
    #[error("chat template: {0}")]
    Template(String),
}

/// A compiled chat template plus the special-token texts templates refer to.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

/// ChatML, for GGUFs that carry no template of their own.
pub const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

impl ChatTemplate {
    /// Compiles `source`; `bos`/`eos` are the texts of those tokens.
    pub fn new(source: &str, bos: &str, eos: &str) -> Result<Self, ChatError> {
        let mut env = Environment::new();
        // Templates written for Python's Jinja call string methods (`.strip()`, `.split()`).
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<Value, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_template_owned("chat".to_string(), source.to_string())
            .map_err(|e| ChatError::Template(e.to_string()))?;
        Ok(Self {
            env,
            bos: bos.into(),
            eos: eos.into(),
        })
    }

    /// The prompt text for `messages`, ending where the assistant's reply begins.
    pub fn render(&self, messages: &[Message]) -> Result<String, ChatError> {
        self.render_turns(messages, true)
    }

    /// The text of `messages`, with the assistant's opening when `reply` is set; without it,
    /// what a longer conversation's prompt starts with.
    pub fn render_turns(&self, messages: &[Message], reply: bool) -> Result<String, ChatError> {
        let template = self
            .env
            .get_template("chat")
            .map_err(|e| ChatError::Template(e.to_string()))?;
        template
            .render(minijinja::context! {
                messages => messages
                    .iter()
                    .map(|m| Value::from_pairs([("role", m.role.as_str()), ("content", m.content.as_str())]))
                    .collect::<Vec<Value>>(),
                add_generation_prompt => reply,
                bos_token => self.bos.as_str(),
                eos_token => self.eos.as_str(),
            })
            .map_err(|e| ChatError::Template(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, content: &str) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }

    #[test]
    fn chatml_renders_turns_and_generation_prompt() {
        let t = ChatTemplate::new(CHATML, "", "").unwrap();
        let text = t.render(&[msg("user", "Hi")]).unwrap();
        assert_eq!(
            text,
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn python_string_methods_and_exceptions_work() {
        // The shape of Mistral's template: role alternation enforced with raise_exception.
        let src = "{{ bos_token }}{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('roles must alternate') }}{% endif %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'].strip() + ' [/INST]' }}{% else %}{{ m['content'] + eos_token }}{% endif %}{% endfor %}";
        let t = ChatTemplate::new(src, "<s>", "</s>").unwrap();
        assert_eq!(
            t.render(&[msg("user", "  Hi  ")]).unwrap(),
            "<s>[INST] Hi [/INST]"
        );
        let err = t.render(&[msg("assistant", "x")]).unwrap_err();
        assert!(err.to_string().contains("roles must alternate"), "{err}");
    }

    #[test]
    fn broken_template_is_an_error() {
        assert!(ChatTemplate::new("{% for %}", "", "").is_err());
    }
}
