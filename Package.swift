// swift-tools-version:6.0
import PackageDescription

// Dependency arrows point one way (see DESIGN.md):
// parvester (executable) → ParvesterCore → SSH, Kube, YAML → C system libraries.
let package = Package(
    name: "Parvester",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "parvester", targets: ["parvester"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // System libraries. Debian package names in `providers` are what `make deps` installs.
        .systemLibrary(
            name: "CLibSSH2", path: "Sources/CLibSSH2", pkgConfig: "libssh2",
            providers: [.apt(["libssh2-1-dev"])]),
        .systemLibrary(
            name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(
            name: "CYAML", path: "Sources/CYAML", pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]),
        // libssh2 already links it; Parvester uses its sha256 (and WebSocket handshakes its SHA-1).
        .systemLibrary(
            name: "CLibCrypto", path: "Sources/CLibCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),
        // libcurl and libssh2 already link it; Parvester reads RKE2's airgap tarball with it (its version).
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        // Swift cannot call C variadic functions such as curl_easy_setopt; this shim gives them fixed signatures.
        .target(name: "CCurlShim", dependencies: ["CCurl"], path: "Sources/CCurlShim"),

        .target(name: "YAML", dependencies: ["CYAML"]),
        .target(name: "SSH", dependencies: ["CLibSSH2"]),
        .target(name: "Kube", dependencies: ["CCurl", "CCurlShim", "YAML", "CLibCrypto"]),
        .target(name: "ParvesterCore", dependencies: ["YAML", "SSH", "Kube", "CLibCrypto", "CZlib"]),
        .executableTarget(
            name: "parvester",
            dependencies: [
                "ParvesterCore", "Kube", "SSH",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Drives Parvester's SSH code for `make bench`; not part of the product.
        .executableTarget(name: "parvester-bench", dependencies: ["ParvesterCore", "SSH", "Kube"]),

        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "YAMLTests", dependencies: ["YAML", "TestSupport"]),
        .testTarget(name: "SSHTests", dependencies: ["SSH", "ParvesterCore", "TestSupport"]),
        .testTarget(
            name: "ParvesterCoreTests", dependencies: ["ParvesterCore", "YAML"],
            exclude: ["Fixtures"]),
        // Parvester's Kubernetes client against the lab's API double run on its own (no lab, no root).
        .testTarget(name: "KubeTests", dependencies: ["Kube", "YAML", "TestSupport"]),
        .testTarget(name: "NativeLibraryTests", dependencies: ["SSH", "Kube", "CCurl", "CCurlShim", "CLibSSH2"]),
        .testTarget(name: "CLITests", dependencies: ["parvester", "TestSupport"]),
        // Needs the local lab (make lab-up; `make test` brings it up and down).
        .testTarget(name: "LabTests", dependencies: ["SSH", "Kube", "ParvesterCore", "parvester", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
