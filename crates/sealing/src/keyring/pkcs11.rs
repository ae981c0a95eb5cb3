//! A keyring in a PKCS#11 token (an HSM, or SoftHSM2 in tests). Key-encryption keys are
//! AES-256 secret keys created inside the token as sensitive and non-extractable; data keys
//! are wrapped and unwrapped by CKM_AES_GCM inside the token, so a KEK never leaves it.

use super::{KekId, Keyring, KeyringError, WrapContext, WrappedKey};
use crate::secret::KeyBytes;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use rand::RngCore;
use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;
use zeroize::Zeroizing;

const LABEL_PREFIX: &str = "rollguard-kek-";

/// How to reach the token. The PIN comes from the environment, never from a file in the repo.
#[derive(Clone)]
pub struct Pkcs11Config {
    pub module: PathBuf,
    pub token: String,
    pub pin: String,
}

impl fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pkcs11Config {{ module: {}, token: {:?}, pin: <redacted> }}",
            self.module.display(),
            self.token
        )
    }
}

pub struct Pkcs11Keyring {
    token: String,
    session: Mutex<Session>,
    /// Sorted by label, oldest first; the last is current.
    keks: Vec<(KekId, ObjectHandle)>,
}

fn ck(context: &str) -> impl Fn(CkError) -> KeyringError + '_ {
    move |e| KeyringError::Pkcs11(format!("{context}: {e}"))
}

impl Pkcs11Keyring {
    /// Opens the token and logs in. If the token holds no Rollguard KEK yet, creates one.
    pub fn open(config: Pkcs11Config) -> Result<Self, KeyringError> {
        let pkcs11 = Pkcs11::new(&config.module).map_err(ck("loading the PKCS#11 module"))?;
        match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(ck("initialising the module")(e)),
        }
        let mut slot = None;
        for s in pkcs11.get_slots_with_initialized_token().map_err(ck("listing slots"))? {
            let info = pkcs11.get_token_info(s).map_err(ck("reading token info"))?;
            if info.label().trim_end() == config.token {
                slot = Some(s);
                break;
            }
        }
        let slot = slot.ok_or_else(|| {
            KeyringError::Pkcs11(format!("no initialised token labelled {:?}", config.token))
        })?;
        let session = pkcs11.open_rw_session(slot).map_err(ck("opening a session"))?;
        let pin = AuthPin::from(config.pin.clone());
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(ck("logging in to the token (check the PIN)")(e)),
        }
        let mut ring = Self { token: config.token, session: Mutex::new(session), keks: Vec::new() };
        ring.reload()?;
        if ring.keks.is_empty() {
            ring.add_kek()?;
        }
        Ok(ring)
    }

    fn reload(&mut self) -> Result<(), KeyringError> {
        let session = self.session.lock().expect("session lock");
        let template = [Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES)];
        let mut keks = Vec::new();
        for handle in session.find_objects(&template).map_err(ck("finding keys"))? {
            let attrs =
                session.get_attributes(handle, &[AttributeType::Label]).map_err(ck("reading a key label"))?;
            for a in attrs {
                if let Attribute::Label(bytes) = a {
                    let label = String::from_utf8_lossy(&bytes).into_owned();
                    if label.starts_with(LABEL_PREFIX) {
                        keks.push((KekId(label), handle));
                    }
                }
            }
        }
        keks.sort_by(|a, b| a.0.cmp(&b.0));
        drop(session);
        self.keks = keks;
        Ok(())
    }

    fn handle(&self, id: &KekId) -> Result<ObjectHandle, KeyringError> {
        self.keks
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, h)| *h)
            .ok_or_else(|| KeyringError::UnknownKek(id.clone()))
    }
}

impl Keyring for Pkcs11Keyring {
    fn describe(&self) -> String {
        format!("PKCS#11 token {:?}", self.token)
    }

    fn current(&self) -> KekId {
        self.keks.last().expect("a keyring always holds a KEK").0.clone()
    }

    fn kek_ids(&self) -> Vec<KekId> {
        self.keks.iter().map(|(id, _)| id.clone()).collect()
    }

    fn wrap(&self, key: &KeyBytes, ctx: &WrapContext<'_>) -> Result<WrappedKey, KeyringError> {
        let id = self.current();
        let handle = self.handle(&id)?;
        let ad = ctx.associated_data(&id);
        let mut iv = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut iv);
        let mut iv_param = iv;
        let params = GcmParams::new(&mut iv_param, &ad, 128u64.into()).map_err(ck("GCM parameters"))?;
        let session = self.session.lock().expect("session lock");
        let ct = session
            .encrypt(&Mechanism::AesGcm(params), handle, key.expose())
            .map_err(ck("wrapping a data key"))?;
        let mut bytes = iv.to_vec();
        bytes.extend_from_slice(&ct);
        Ok(WrappedKey { kek: id, bytes })
    }

    fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext<'_>) -> Result<KeyBytes, KeyringError> {
        let handle = self.handle(&wrapped.kek)?;
        let fail = || KeyringError::Unwrap {
            authority: ctx.authority.into(),
            purpose: ctx.purpose.into(),
            generation: ctx.generation,
        };
        if wrapped.bytes.len() < 12 + 16 {
            return Err(fail());
        }
        let ad = ctx.associated_data(&wrapped.kek);
        let mut iv: [u8; 12] = wrapped.bytes[..12].try_into().expect("12 bytes");
        let params = GcmParams::new(&mut iv, &ad, 128u64.into()).map_err(ck("GCM parameters"))?;
        let session = self.session.lock().expect("session lock");
        let plain = Zeroizing::new(
            session.decrypt(&Mechanism::AesGcm(params), handle, &wrapped.bytes[12..]).map_err(|_| fail())?,
        );
        KeyBytes::from_slice(&plain).ok_or_else(fail)
    }

    fn add_kek(&mut self) -> Result<KekId, KeyringError> {
        // Labels carry a zero-padded sequence number so that label order is creation order,
        // even for two keys made within the same second.
        let next = self
            .keks
            .iter()
            .filter_map(|(id, _)| id.0.strip_prefix(LABEL_PREFIX)?.split('-').next()?.parse::<u64>().ok())
            .max()
            .map_or(1, |n| n + 1);
        let mut r = [0u8; 4];
        rand::rngs::OsRng.fill_bytes(&mut r);
        let label = format!("{LABEL_PREFIX}{next:08}-{:02x}{:02x}{:02x}{:02x}", r[0], r[1], r[2], r[3]);
        let template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::ValueLen(32u64.into()),
            Attribute::Label(label.clone().into_bytes()),
        ];
        {
            let session = self.session.lock().expect("session lock");
            session
                .generate_key(&Mechanism::AesKeyGen, &template)
                .map_err(ck("generating a key-encryption key"))?;
        }
        self.reload()?;
        Ok(KekId(label))
    }

    fn remove_kek(&mut self, id: &KekId) -> Result<(), KeyringError> {
        if *id == self.current() {
            return Err(KeyringError::RemoveCurrent(id.clone()));
        }
        let handle = self.handle(id)?;
        {
            let session = self.session.lock().expect("session lock");
            session.destroy_object(handle).map_err(ck("destroying a key-encryption key"))?;
        }
        self.reload()
    }
}
