//! The actions. IDs are stable: add new ones at the end of their series, never renumber.

use super::files::{self, OfficeKind, ZipEncryption};
use super::{ActionDef, BuildContext, Category, Content, Direction, FromHeader, Risk};

const NOTE: &str = "This message was sent by Mailproof to test this organisation's email defences. \
It is harmless by construction: any test file in it is a standard test string or a benign file with a risky \
name or shape. Please ignore it.";

const ZIP_PASSWORD: &str = "infected";

fn note(extra: &str) -> Content {
    Content::text(format!("{NOTE}\r\n\r\n{extra}\r\n"))
}

fn eicar_text() -> String {
    String::from_utf8(files::eicar()).expect("ASCII")
}

macro_rules! action {
    ($id:literal, $name:literal, $cat:ident, $risk:ident, $dir:ident, $desc:literal, $build:expr) => {
        ActionDef {
            id: $id,
            name: $name,
            category: Category::$cat,
            risk: Risk::$risk,
            direction: Direction::$dir,
            description: $desc,
            needs_spoofed_from: false,
            build: $build,
        }
    };
}

const OCTET: &str = "application/octet-stream";

fn script(name: &str, content_type: &str, comment: &str) -> Content {
    note(&format!("Attached: {name}, a script file that holds only comments and does nothing.")).attach(
        name,
        content_type,
        format!("{comment} Mailproof test file. It contains no commands.\r\n").into_bytes(),
    )
}

fn look_alike(domain: &str) -> String {
    // Swap the first 'm' for "rn", 'l' for '1', 'o' for '0'; failing all, add a hyphen before the TLD.
    for (from, to) in [("m", "rn"), ("l", "1"), ("o", "0"), ("i", "1")] {
        let (name, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
        if let Some(at) = name.find(from) {
            let swapped = format!("{}{}{}", &name[..at], to, &name[at + from.len()..]);
            return if tld.is_empty() { swapped } else { format!("{swapped}.{tld}") };
        }
    }
    match domain.rsplit_once('.') {
        Some((name, tld)) => format!("{name}-secure.{tld}"),
        None => format!("{domain}-secure"),
    }
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or(address)
}

const CARDS: &str =
    "4111 1111 1111 1111 (Visa test), 5555 5555 5555 4444 (Mastercard test), 3782 822463 10005 (Amex test)";
const IBANS: &str = "GB82 WEST 1234 5698 7654 32, DE89 3704 0044 0532 0130 00, FR14 2004 1010 0505 0001 3M02 606";
const NATIONAL_IDS: &str = "US SSN 666-12-3456, US SSN 900-45-6789, UK NINO QQ 12 34 56 C";

fn records_csv() -> Vec<u8> {
    b"name,card,expiry,iban,national_id\r\n\
         Test Person One,4111111111111111,12/30,GB82WEST12345698765432,666-12-3456\r\n\
         Test Person Two,5555555555554444,11/29,DE89370400440532013000,900-45-6789\r\n\
         Test Person Three,378282246310005,10/28,FR1420041010050500013M02606,QQ123456C\r\n"
        .to_vec()
}

pub static CATALOGUE: &[ActionDef] = &[
    // ---- Malware test files: the EICAR test file in many wrappings.
    action!("A100-001", "EICAR test file as .com", Malware, High, Inbound,
        "The 68-byte EICAR anti-virus test file attached as eicar.com. Every anti-virus engine detects it; it does nothing.",
        |_| note("Attached: eicar.com, the EICAR anti-virus test file.").attach("eicar.com", OCTET, files::eicar())),
    action!("A100-002", "EICAR test file as .txt", Malware, High, Inbound,
        "The EICAR test file attached as eicar.txt (text/plain): tests scanning that does not trust the extension.",
        |_| note("Attached: eicar.txt, the EICAR anti-virus test file.").attach("eicar.txt", "text/plain", files::eicar())),
    action!("A100-003", "EICAR test string in the message body", Malware, High, Inbound,
        "The EICAR test string as the plain-text body itself: tests scanning of message bodies.",
        |_| { let e = eicar_text(); Content::text(format!("{e}\r\n")).payload(e) }),
    action!("A100-004", "EICAR inside a zip", Malware, High, Inbound,
        "eicar.com inside eicar.zip (deflated): tests archive scanning.",
        |_| note("Attached: eicar.zip holding the EICAR test file.").attach("eicar.zip", "application/zip", files::zip(&[("eicar.com", &files::eicar())], ZipEncryption::None))),
    action!("A100-005", "EICAR in a zip inside a zip", Malware, High, Inbound,
        "eicar.com inside a zip inside a zip (depth 2): tests recursive archive scanning.",
        |_| note("Attached: nested.zip, two levels deep, holding the EICAR test file.").attach("nested.zip", "application/zip", files::nested_zip("eicar.com", &files::eicar(), 2))),
    action!("A100-006", "EICAR in zips nested 3 deep", Malware, High, Inbound,
        "eicar.com at depth 3 of nested zips: many gateways stop unpacking at some depth.",
        |_| note("Attached: nested3.zip, three levels deep, holding the EICAR test file.").attach("nested3.zip", "application/zip", files::nested_zip("eicar.com", &files::eicar(), 3))),
    action!("A100-007", "EICAR in zips nested 5 deep", Malware, High, Inbound,
        "eicar.com at depth 5 of nested zips: beyond the unpacking limit of many gateways.",
        |_| note("Attached: nested5.zip, five levels deep, holding the EICAR test file.").attach("nested5.zip", "application/zip", files::nested_zip("eicar.com", &files::eicar(), 5))),
    action!("A100-008", "EICAR in a password-protected zip (ZipCrypto)", Malware, High, Inbound,
        "eicar.com in a zip encrypted with legacy ZipCrypto, password \"infected\" given in the body: scanners cannot look inside without it.",
        |_| note(&format!("Attached: protected.zip (ZipCrypto), password {ZIP_PASSWORD}, holding the EICAR test file.")).attach("protected.zip", "application/zip", files::zip(&[("eicar.com", &files::eicar())], ZipEncryption::ZipCrypto(ZIP_PASSWORD)))),
    action!("A100-009", "EICAR in a password-protected zip (AES-256)", Malware, High, Inbound,
        "eicar.com in a zip encrypted with AES-256 (WinZip AE-2), password \"infected\" given in the body.",
        |_| note(&format!("Attached: protected-aes.zip (AES-256), password {ZIP_PASSWORD}, holding the EICAR test file.")).attach("protected-aes.zip", "application/zip", files::zip(&[("eicar.com", &files::eicar())], ZipEncryption::Aes256(ZIP_PASSWORD)))),
    action!("A100-010", "EICAR in a tar.gz", Malware, High, Inbound,
        "eicar.com inside eicar.tar.gz: tests scanning of Unix archive formats.",
        |_| note("Attached: eicar.tar.gz holding the EICAR test file.").attach("eicar.tar.gz", "application/gzip", files::tar_gz("eicar.com", &files::eicar()))),
    action!("A100-011", "EICAR in an ISO disc image", Malware, High, Inbound,
        "EICAR.COM inside a minimal ISO 9660 image (eicar.iso): disc images are a common way to slip past attachment filters.",
        |_| note("Attached: eicar.iso, an ISO 9660 image holding the EICAR test file.").attach("eicar.iso", "application/x-iso9660-image", files::iso9660("EICAR.COM", &files::eicar()))),
    action!("A100-012", "HTML smuggling of the EICAR test file", Malware, High, Inbound,
        "An HTML attachment whose script would rebuild the EICAR test file from base64 and offer it as a download (the HTML smuggling pattern). Nothing runs unless a person opens it in a browser and clicks.",
        |_| {
            use base64::Engine;
            let blob = base64::engine::general_purpose::STANDARD.encode(files::eicar());
            let html = format!("<!doctype html><html><body><p>Mailproof HTML smuggling test. The button rebuilds the EICAR anti-virus test file.</p>\
<button onclick=\"var b=new Blob([Uint8Array.from(atob('{blob}'),c=>c.charCodeAt(0))]);var a=document.createElement('a');a.href=URL.createObjectURL(b);a.download='eicar.com';a.click();\">Download</button></body></html>");
            note("Attached: invoice.html, an HTML smuggling pattern that rebuilds the EICAR test file.").attach("invoice.html", "text/html", html.into_bytes())
        }),
    action!("A100-013", "EICAR with a double extension (invoice.pdf.exe)", Malware, High, Inbound,
        "The EICAR test file named invoice.pdf.exe: tests detection of disguised executables.",
        |_| note("Attached: invoice.pdf.exe, the EICAR test file.").attach("invoice.pdf.exe", OCTET, files::eicar())),
    action!("A100-014", "EICAR gzip-compressed", Malware, High, Inbound,
        "The EICAR test file compressed with gzip (eicar.com.gz).",
        |_| note("Attached: eicar.com.gz, the gzip-compressed EICAR test file.").attach("eicar.com.gz", "application/gzip", files::gzip(&files::eicar()))),
    action!("A100-015", "EICAR disguised as an image", Malware, High, Inbound,
        "The EICAR test file attached as photo.jpg with type image/jpeg: tests scanning that trusts the declared type.",
        |_| note("Attached: photo.jpg, which is really the EICAR test file.").attach("photo.jpg", "image/jpeg", files::eicar())),
    // ---- Dangerous file types with benign content.
    action!("A200-001", "Windows program (.exe)", DangerousFile, High, Inbound,
        "setup.exe: starts with the Windows 'MZ' header but holds only text, so Windows refuses to run it. Tests blocking by file type.",
        |_| note("Attached: setup.exe, a text file with a program header; it cannot run.").attach("setup.exe", "application/x-msdownload", files::mz_text_stub("Mailproof test file. Not a program."))),
    action!("A200-002", "Screen saver (.scr)", DangerousFile, High, Inbound,
        "screensaver.scr: the 'MZ' header and text only; cannot run.",
        |_| note("Attached: screensaver.scr, a text file with a program header; it cannot run.").attach("screensaver.scr", OCTET, files::mz_text_stub("Mailproof test file. Not a program."))),
    action!("A200-003", "JavaScript file (.js)", DangerousFile, High, Inbound,
        "invoice.js: holds a comment only.",
        |_| script("invoice.js", "application/javascript", "//")),
    action!("A200-004", "VBScript file (.vbs)", DangerousFile, High, Inbound,
        "invoice.vbs: holds a comment only.",
        |_| script("invoice.vbs", "text/vbscript", "'")),
    action!("A200-005", "HTML application (.hta)", DangerousFile, High, Inbound,
        "update.hta: an HTML page with a heading and no script.",
        |_| note("Attached: update.hta, an HTML application with no script.").attach("update.hta", "application/hta", b"<html><head><title>Mailproof test</title></head><body><h1>Mailproof test file. No script.</h1></body></html>\r\n".to_vec())),
    action!("A200-006", "Windows shortcut (.lnk)", DangerousFile, High, Inbound,
        "document.lnk: a Shell Link header with no target; Windows shows it as a broken shortcut.",
        |_| note("Attached: document.lnk, a shortcut with no target.").attach("document.lnk", OCTET, files::lnk_without_target())),
    action!("A200-007", "Batch file (.bat)", DangerousFile, Medium, Inbound,
        "run.bat: REM comments only.",
        |_| script("run.bat", "application/x-bat", "REM")),
    action!("A200-008", "PowerShell script (.ps1)", DangerousFile, Medium, Inbound,
        "script.ps1: a comment only.",
        |_| script("script.ps1", "text/plain", "#")),
    action!("A200-009", "Disc image (.iso)", DangerousFile, Medium, Inbound,
        "files.iso: an ISO 9660 image holding one text file (README.TXT).",
        |_| note("Attached: files.iso, a disc image holding a text file.").attach("files.iso", "application/x-iso9660-image", files::iso9660("README.TXT", b"Mailproof test file. Harmless text.\r\n"))),
    action!("A200-010", "Macro-enabled Word document (.docm)", DangerousFile, High, Inbound,
        "report.docm: a valid macro-enabled Word package whose vbaProject.bin part is a text placeholder — the shape of a macro document without any macro code.",
        |_| note("Attached: report.docm, macro-enabled in shape, no macro code.").attach("report.docm", "application/vnd.ms-word.document.macroEnabled.12", files::macro_enabled_office(OfficeKind::Docm))),
    action!("A200-011", "Macro-enabled Excel workbook (.xlsm)", DangerousFile, High, Inbound,
        "figures.xlsm: a macro-enabled Excel package whose vbaProject.bin part is a text placeholder.",
        |_| note("Attached: figures.xlsm, macro-enabled in shape, no macro code.").attach("figures.xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12", files::macro_enabled_office(OfficeKind::Xlsm))),
    action!("A200-012", "Command script (.cmd)", DangerousFile, Medium, Inbound,
        "start.cmd: REM comments only.",
        |_| script("start.cmd", "application/x-bat", "REM")),
    action!("A200-013", "Windows Script File (.wsf)", DangerousFile, High, Inbound,
        "job.wsf: an XML comment only.",
        |_| note("Attached: job.wsf, an XML comment only.").attach("job.wsf", "text/xml", b"<!-- Mailproof test file. It contains no script. -->\r\n".to_vec())),
    action!("A200-014", "Executable inside a zip", DangerousFile, High, Inbound,
        "setup.zip holding setup.exe (the text-only 'MZ' file): tests type blocking inside archives.",
        |_| note("Attached: setup.zip holding setup.exe, which cannot run.").attach("setup.zip", "application/zip", files::zip(&[("setup.exe", &files::mz_text_stub("Mailproof test file. Not a program."))], ZipEncryption::None))),
    // ---- Links to well-known test pages.
    action!("A300-001", "Phishing test URL in plain text", Link, High, Inbound,
        "Google Safe Browsing's phishing test page (testsafebrowsing.appspot.com/s/phishing.html), classified as phishing by URL filters; the page itself is harmless.",
        |_| { let u = "http://testsafebrowsing.appspot.com/s/phishing.html"; note(&format!("Please confirm your account: {u}")).payload(u) }),
    action!("A300-002", "Malware test URL in plain text", Link, High, Inbound,
        "Google Safe Browsing's malware test page (testsafebrowsing.appspot.com/s/malware.html).",
        |_| { let u = "http://testsafebrowsing.appspot.com/s/malware.html"; note(&format!("Download the update: {u}")).payload(u) }),
    action!("A300-003", "Phishing test URL behind an HTML link", Link, High, Inbound,
        "An HTML message whose link text shows a login page but points to the Safe Browsing phishing test page: tests rewriting and inspection of HTML links.",
        |_| {
            let u = "http://testsafebrowsing.appspot.com/s/phishing.html";
            let mut c = note("This message has an HTML part with a link.").payload(u);
            c.html = Some(format!("<html><body><p>{NOTE}</p><p>Your mailbox is full. <a href=\"{u}\">https://login.example.com/verify</a></p></body></html>"));
            c
        }),
    action!("A300-004", "Unwanted-software test URL", Link, Medium, Inbound,
        "Google Safe Browsing's unwanted-software test page (testsafebrowsing.appspot.com/s/unwanted.html).",
        |_| { let u = "http://testsafebrowsing.appspot.com/s/unwanted.html"; note(&format!("Free tool: {u}")).payload(u) }),
    action!("A300-005", "Link to the EICAR test file download", Link, High, Inbound,
        "A link to the EICAR test file's official download (secure.eicar.org/eicar.com): tests URL sandboxing and time-of-click protection.",
        |_| { let u = "https://secure.eicar.org/eicar.com"; note(&format!("Get the file here: {u}")).payload(u) }),
    // ---- Spam.
    action!("A400-001", "GTUBE spam test string in the body", Spam, Medium, Inbound,
        "The GTUBE string in the plain-text body: every spam filter scores it as spam.",
        |_| { let g = files::gtube(); note(&g).payload(g) }),
    action!("A400-002", "GTUBE spam test string in an HTML body", Spam, Medium, Inbound,
        "The GTUBE string in the HTML part of the message.",
        |_| { let g = files::gtube(); let mut c = note("This message has an HTML part.").payload(g.clone()); c.html = Some(format!("<html><body><p>{g}</p></body></html>")); c }),
    action!("A400-003", "GTUBE spam test string in an attachment", Spam, Low, Inbound,
        "The GTUBE string inside an attached text file (offer.txt).",
        |_| note("Attached: offer.txt holding the GTUBE spam test string.").attach("offer.txt", "text/plain", files::gtube().into_bytes())),
    // ---- Spoofing and impersonation.
    ActionDef {
        id: "A500-001",
        name: "Spoofed From address",
        category: Category::Spoofing,
        risk: Risk::High,
        direction: Direction::Inbound,
        description: "The From header carries the job's \"From spoofed address\" while the envelope sender stays the source profile's: tests SPF/DMARC alignment and spoofing rules.",
        needs_spoofed_from: true,
        build: |ctx: &BuildContext| {
            let mut c = note("The From header of this message is spoofed.");
            c.from = FromHeader::Header { name: None, address: ctx.spoofed_from.unwrap_or(ctx.destination).to_owned() };
            c
        },
    },
    action!("A500-002", "Display-name impersonation", Spoofing, High, Inbound,
        "The From display name claims to be the destination organisation's IT helpdesk (\"IT Helpdesk (helpdesk@<destination domain>)\") while the address is the source's: tests display-name impersonation rules.",
        |ctx: &BuildContext| {
            let mut c = note("The display name of this message impersonates your helpdesk.");
            c.from = FromHeader::Header { name: Some(format!("IT Helpdesk (helpdesk@{})", domain_of(ctx.destination))), address: ctx.source.to_owned() };
            c
        }),
    action!("A500-003", "Look-alike sender domain", Spoofing, High, Inbound,
        "The From address uses a look-alike of the destination's domain (e.g. 'rn' for 'm', '1' for 'l'): tests cousin-domain detection.",
        |ctx: &BuildContext| {
            let mut c = note("The From domain of this message imitates yours.");
            c.from = FromHeader::Header { name: Some("Accounts Payable".into()), address: format!("accounts@{}", look_alike(domain_of(ctx.destination))) };
            c
        }),
    ActionDef {
        id: "A500-004",
        name: "Spoofed envelope sender",
        category: Category::Spoofing,
        risk: Risk::High,
        direction: Direction::Inbound,
        description: "Both the envelope sender (MAIL FROM) and the From header are the job's \"From spoofed address\": the submission server or the receiving gateway should refuse it.",
        needs_spoofed_from: true,
        build: |ctx: &BuildContext| {
            let mut c = note("The envelope sender of this message is spoofed.");
            c.from = FromHeader::Envelope { address: ctx.spoofed_from.unwrap_or(ctx.destination).to_owned() };
            c
        },
    },
    action!("A500-005", "Reply-To to an outside address", Spoofing, Medium, Inbound,
        "A payment request whose Reply-To points to a look-alike domain: the business email compromise pattern.",
        |ctx: &BuildContext| {
            let mut c = note("Please process the attached payment today and reply to confirm.");
            c.reply_to = Some(format!("finance@{}", look_alike(domain_of(ctx.destination))));
            c
        }),
    // ---- Data loss (outbound): published test numbers, never real ones.
    action!("A600-001", "Payment card numbers in the body", DataLoss, High, Outbound,
        "Three Luhn-valid test card numbers (Visa 4111…, Mastercard 5555…, Amex 3782…) in the body: tests PCI data-loss rules.",
        |_| note(&format!("Card numbers for the order: {CARDS}")).payload("4111 1111 1111 1111")),
    action!("A600-002", "Payment card numbers in a CSV attachment", DataLoss, High, Outbound,
        "customers.csv with test card numbers, test IBANs and invalid-by-construction national IDs.",
        |_| note("Attached: customers.csv.").attach("customers.csv", "text/csv", records_csv())),
    action!("A600-003", "National ID numbers in the body", DataLoss, High, Outbound,
        "Invalid-by-construction national ID numbers (US SSNs in never-issued ranges, a UK NINO with the reserved QQ prefix).",
        |_| note(&format!("Employee records: {NATIONAL_IDS}")).payload("666-12-3456")),
    action!("A600-004", "IBANs in the body", DataLoss, Medium, Outbound,
        "Published example IBANs (GB, DE, FR) in the body: tests banking-data rules.",
        |_| note(&format!("Please pay to: {IBANS}")).payload("GB82 WEST 1234 5698 7654 32")),
    action!("A600-005", "Sensitive records in a zip", DataLoss, High, Outbound,
        "customers.csv (test cards, IBANs, IDs) inside export.zip: tests data-loss scanning inside archives.",
        |_| note("Attached: export.zip holding customers.csv.").attach("export.zip", "application/zip", files::zip(&[("customers.csv", &records_csv())], ZipEncryption::None))),
    action!("A600-006", "Sensitive records in a password-protected zip", DataLoss, High, Outbound,
        "customers.csv in an AES-256 zip (password in the body): data a scanner cannot read; many policies block encrypted archives outright.",
        |_| note(&format!("Attached: export-protected.zip, password {ZIP_PASSWORD}.")).attach("export-protected.zip", "application/zip", files::zip(&[("customers.csv", &records_csv())], ZipEncryption::Aes256(ZIP_PASSWORD)))),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_is_big_unique_and_buildable() {
        assert!(CATALOGUE.len() >= 40, "{}", CATALOGUE.len());
        let mut ids: Vec<&str> = CATALOGUE.iter().map(|a| a.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CATALOGUE.len(), "IDs are unique");
        let ctx = BuildContext { source: "alice@example.test", destination: "bob@example.com", spoofed_from: None };
        for a in CATALOGUE {
            let c = (a.build)(&ctx);
            assert!(!c.text.is_empty(), "{}", a.id);
            assert!(a.id.len() == 8 && a.id.starts_with('A'), "{}", a.id);
        }
    }

    #[test]
    fn look_alike_domains_differ_from_the_original() {
        assert_eq!(look_alike("example.com"), "exarnple.com");
        assert_eq!(look_alike("bank.test"), "bank-secure.test");
        assert_eq!(look_alike("lab.test"), "1ab.test");
    }
}
