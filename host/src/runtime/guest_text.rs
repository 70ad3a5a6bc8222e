//! A string a guest returns from `run` (its result or its error message), lifted with
//! the run's size limit applied *before* the host copies it: a text over the limit
//! is never copied whole, only its length and a short head are kept.
//!
//! wasmtime's own `String` lift copies whatever length the guest claims (up to its
//! per-call "hostcall fuel", 128 MiB, past which it fails with its internal wording),
//! and a `WasmStr` cannot be read after the call: the guest's post-return function has
//! freed the string by then. So this type reads the string's length from the canonical
//! ABI's pointer pair itself and hands only a text within the limit to wasmtime's
//! `String` lift, which checks the bounds and the encoding as usual.
//!
//! The limit comes from the task-local [`TEXT_LIMIT`], set around the guest's call
//! ([`with_text_limit`]): lifting runs inside that call's poll, on its task.

use super::state::prefix_at_char_boundary;
use wasmtime::ValRaw;
use wasmtime::component::__internal::wasmtime_environ::component::StringEncoding;
use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext};
use wasmtime::component::{ComponentType, Lift};

/// How much of a text over the limit is kept to quote in the failure.
pub(crate) const HEAD_BYTES: usize = 1024;

/// The limit when none is set (a call outside [`with_text_limit`]).
const DEFAULT_LIMIT: usize = 1 << 20;

/// The canonical ABI tags a compact UTF-16 string's length with this bit.
const UTF16_TAG: usize = 1 << 31;

tokio::task_local! {
    /// The most bytes a guest's result or error message may have in the current call.
    static TEXT_LIMIT: usize;
}

/// Runs `call` (a guest call returning [`GuestText`]s) with `limit` as the bound of
/// the texts it returns.
pub(crate) async fn with_text_limit<F: Future>(limit: usize, call: F) -> F::Output {
    TEXT_LIMIT.scope(limit, call).await
}

/// A string returned by a guest, bounded by the call's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GuestText {
    /// Its length in bytes: of the text when it was read whole (as UTF-8), else as
    /// the guest gave it (for UTF-16, twice its code units).
    pub(crate) len: usize,
    /// The whole text when `len` is within `limit`; otherwise at most [`HEAD_BYTES`]
    /// of its start (empty when the guest's memory does not hold them, or they are
    /// not UTF-8).
    pub(crate) text: String,
    /// The limit it was lifted with.
    pub(crate) limit: usize,
}

impl GuestText {
    /// Whether the text is over the limit (and `text` only its head).
    pub(crate) fn over_limit(&self) -> bool {
        self.len > self.limit
    }

    /// Lifts the string at `ptr` of `len` (in the encoding's units): whole through
    /// `whole` when within the limit, else only its length and head.
    fn lift(
        cx: &mut LiftContext<'_>,
        ptr: usize,
        len: usize,
        whole: impl FnOnce(&mut LiftContext<'_>) -> wasmtime::Result<String>,
    ) -> wasmtime::Result<GuestText> {
        let limit = TEXT_LIMIT.try_with(|l| *l).unwrap_or(DEFAULT_LIMIT);
        let encoding = cx.options().string_encoding;
        let bytes = match encoding {
            StringEncoding::Utf8 => len,
            StringEncoding::Utf16 => len.saturating_mul(2),
            StringEncoding::CompactUtf16 if len & UTF16_TAG != 0 => {
                (len ^ UTF16_TAG).saturating_mul(2)
            }
            StringEncoding::CompactUtf16 => len,
        };
        if bytes <= limit {
            let text = whole(cx)?;
            return Ok(GuestText {
                len: text.len(),
                text,
                limit,
            });
        }
        let head = match encoding {
            StringEncoding::Utf8 => utf8_head(cx.memory(), ptr, HEAD_BYTES),
            StringEncoding::Utf16 | StringEncoding::CompactUtf16 => String::new(),
        };
        Ok(GuestText {
            len: bytes,
            text: head,
            limit,
        })
    }
}

/// Up to `max` bytes of UTF-8 at `ptr` in `memory`, cut at a character boundary; empty
/// when they are out of bounds or not UTF-8.
fn utf8_head(memory: &[u8], ptr: usize, max: usize) -> String {
    let Some(bytes) = memory.get(ptr..).map(|rest| &rest[..rest.len().min(max)]) else {
        return String::new();
    };
    let valid = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        // An error within the last 3 bytes is a character cut by `max`.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return String::new(),
    };
    prefix_at_char_boundary(valid, max).to_owned()
}

// SAFETY: the type is lifted from exactly what a `string` is lowered to (`String`'s
// flat representation and size), and `typecheck` accepts only `string`.
unsafe impl ComponentType for GuestText {
    type Lower = <String as ComponentType>::Lower;

    const ABI: CanonicalAbiInfo = <String as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <String as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: reads the pointer pair the way wasmtime's own string lift does (two u32s,
// flat or little-endian in memory) and delegates every lift of a whole string to it.
unsafe impl Lift for GuestText {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        src: &Self::Lower,
    ) -> wasmtime::Result<Self> {
        let [ptr, len]: &[ValRaw; 2] = src;
        let (ptr, len) = (ptr.get_u32() as usize, len.get_u32() as usize);
        GuestText::lift(cx, ptr, len, |cx| {
            <String as Lift>::linear_lift_from_flat(cx, ty, src)
        })
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        let word = |at: usize| {
            bytes
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_le_bytes)
                .ok_or_else(|| wasmtime::Error::msg("a string's pointer pair is cut short"))
        };
        let (ptr, len) = (word(0)? as usize, word(4)? as usize);
        GuestText::lift(cx, ptr, len, |cx| {
            <String as Lift>::linear_lift_from_memory(cx, ty, bytes)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_cut_at_a_character_and_never_reads_past_memory() {
        let memory = "ab€cd".as_bytes();
        assert_eq!(utf8_head(memory, 0, 4), "ab");
        assert_eq!(utf8_head(memory, 0, 5), "ab€");
        assert_eq!(utf8_head(memory, 2, 100), "€cd");
        assert_eq!(utf8_head(memory, 100, 4), "");
        assert_eq!(utf8_head(&[b'a', 0xff, b'b'], 0, 3), "");
    }
}
