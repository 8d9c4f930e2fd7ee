//! Our client against tftpd-hpa on loopback: downloads and uploads of 0, 511, 512, 513 bytes
//! and 10 MB with default options, blksize 1428 and 8192, tsize and windowsize 16.

mod common;

use classbook_tftp::{Client, ClientOptions, ErrorCode, TransferError};
use common::{assert_same, fixtures, peer, read, start_tftpd_hpa, within};
use std::time::Duration;

/// (label, options). tftpd-hpa 5.2 does not know windowsize: it leaves it out of its OACK and
/// the transfer falls back to lock-step, which is what RFC 7440 asks of the client.
fn option_sets() -> Vec<(&'static str, ClientOptions)> {
    let base = ClientOptions { retransmit_after: Duration::from_secs(1), ..ClientOptions::default() };
    vec![
        ("default", base.clone()),
        ("blksize 1428", ClientOptions { blksize: Some(1428), ..base.clone() }),
        ("blksize 8192", ClientOptions { blksize: Some(8192), ..base.clone() }),
        ("tsize", ClientOptions { tsize: true, ..base.clone() }),
        ("windowsize 16", ClientOptions { windowsize: Some(16), blksize: Some(1428), ..base }),
    ]
}

#[tokio::test]
async fn our_client_downloads_from_tftpd_hpa_with_each_option_set() {
    let Some(binary) = peer("/usr/sbin/in.tftpd", "tftpd-hpa") else { return };
    let dir = tempfile::tempdir().unwrap();
    let files = fixtures(dir.path());
    let hpa = start_tftpd_hpa(&binary, dir.path());
    within("downloads", async {
        for (label, options) in option_sets() {
            let client = Client::new(hpa.addr, options.clone(), None);
            for (name, data) in &files {
                let done = client.download(name).await.unwrap_or_else(|e| panic!("{label} {name}: {e}"));
                assert_same(&done.data, data, &format!("download {name} with {label}"));
                assert_eq!(done.stats.blksize, options.blksize.unwrap_or(512), "{label}");
                assert_eq!(done.stats.windowsize, 1, "{label}");
                if options.tsize {
                    assert_eq!(done.stats.tsize, Some(data.len() as u64), "{label}");
                }
            }
        }
        let missing = Client::new(hpa.addr, ClientOptions::default(), None).download("missing").await;
        assert!(matches!(missing, Err(TransferError::Peer { code: ErrorCode::FILE_NOT_FOUND, .. })), "{missing:?}");
    })
    .await;
    hpa.stop().await;
}

#[tokio::test]
async fn our_client_uploads_to_tftpd_hpa_with_each_option_set() {
    let Some(binary) = peer("/usr/sbin/in.tftpd", "tftpd-hpa") else { return };
    let source = tempfile::tempdir().unwrap();
    let files = fixtures(source.path());
    let dir = tempfile::tempdir().unwrap();
    let hpa = start_tftpd_hpa(&binary, dir.path());
    within("uploads", async {
        for (i, (label, options)) in option_sets().into_iter().enumerate() {
            let client = Client::new(hpa.addr, options, None);
            for (name, data) in &files {
                let remote = format!("{i}-{name}");
                client.upload(&remote, data).await.unwrap_or_else(|e| panic!("{label} {name}: {e}"));
                // tftpd-hpa has closed the file once it sent the last ACK.
                assert_same(&read(&dir.path().join(&remote)), data, &format!("upload {name} with {label}"));
            }
        }
    })
    .await;
    hpa.stop().await;
}
