// swift-tools-version: 6.2

import PackageDescription

/// Upcoming language features enabled for every target of crmd.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "crmd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "crmd", targets: ["CRMDaemon"]),
        .executable(name: "crmctl", targets: ["CRMCtl"]),
        .executable(name: "crm-bench", targets: ["CRMBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // No trait: crmd reads its config file itself (DaemonConfiguration+Reading.swift), not with the JSON provider.
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: []),
    ],
    targets: [
        // MARK: - Storage engine
        .systemLibrary(
            name: "CLMDB",
            path: "Sources/CLMDB",
            providers: [.apt(["liblmdb-dev"])]
        ),
        .target(name: "LMDB", dependencies: ["CLMDB"], swiftSettings: swiftSettings),
        // AES-256-GCM with reused cipher contexts (CRMEventStore's AESGCM).
        .systemLibrary(
            name: "CLibCrypto",
            path: "Sources/CLibCrypto",
            providers: [.apt(["libssl-dev"])]
        ),

        // MARK: - NATS JetStream client (the relay and read replicas)
        .systemLibrary(
            name: "CNATS",
            path: "Sources/CNATS",
            pkgConfig: "libnats",
            providers: [.apt(["libnats-dev"])]
        ),
        .target(name: "JetStream", dependencies: ["CNATS"], swiftSettings: swiftSettings),

        // MARK: - Pure layers
        .target(name: "CRMJSON", swiftSettings: swiftSettings),
        .target(
            name: "CRMDomain",
            swiftSettings: swiftSettings
        ),

        .target(
            name: "CRMParams",
            dependencies: ["CRMDomain", "CRMJSON", "CRMEventStore"],
            swiftSettings: swiftSettings
        ),

        // MARK: - Storage of the log and read models
        .target(
            name: "CRMEventStore",
            dependencies: [
                "LMDB", "CRMDomain", "CRMJSON", "CLibCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CRMProjections",
            dependencies: ["LMDB", "CRMDomain", "CRMEventStore", "CRMJSON", "CRMParams"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CRMApplication",
            dependencies: [
                "LMDB", "CRMDomain", "CRMEventStore", "CRMProjections", "CRMJSON", "CRMParams", "JetStream",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - The JSON-RPC edge
        .target(
            name: "CRMRPC",
            dependencies: ["CRMApplication", "CRMDomain", "CRMEventStore", "CRMJSON", "CRMParams", "CRMProtocol"],
            swiftSettings: swiftSettings
        ),

        // MARK: - Protocol, server, executables
        .target(
            name: "CRMProtocol",
            dependencies: ["CRMJSON"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CRMServer",
            dependencies: [
                "CRMApplication", "CRMRPC", "CRMParams", "CRMProtocol", "CRMJSON", "CRMDomain",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "CRMDaemon",
            dependencies: [
                "CRMServer", "CRMApplication", "CRMRPC", "CRMJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "CRMCtl",
            dependencies: [
                "CRMProtocol", "CRMJSON", "CRMDomain", "CRMEventStore", "CRMRPC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "CRMBench",
            dependencies: [
                "CRMProtocol", "CRMJSON", "LMDB",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CRMTesting",
            dependencies: [
                "CRMServer", "CRMApplication", "CRMRPC", "CRMParams", "CRMProtocol", "CRMJSON", "CRMDomain",
                "CRMEventStore", "LMDB",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - Tests
        .testTarget(name: "CRMJSONTests", dependencies: ["CRMJSON"], swiftSettings: swiftSettings),
        .testTarget(name: "LMDBTests", dependencies: ["LMDB", "CRMTesting"], swiftSettings: swiftSettings),
        .testTarget(
            name: "CRMDomainTests",
            dependencies: ["CRMDomain", "CRMEventStore", "CRMJSON", "CRMParams", "CRMRPC", "CRMTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CRMEventStoreTests",
            dependencies: ["CRMEventStore", "CRMDomain", "CRMJSON", "CRMRPC", "LMDB", "CRMTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CRMProjectionsTests",
            dependencies: [
                "CRMProjections", "CRMEventStore", "CRMDomain", "CRMJSON", "CRMParams", "CRMRPC", "LMDB", "CRMTesting",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CRMApplicationTests",
            dependencies: [
                "CRMApplication", "CRMRPC", "CRMDomain", "CRMEventStore", "CRMParams", "CRMProjections", "CRMTesting",
                "CRMJSON", "CRMProtocol", "JetStream",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "CRMProtocolTests", dependencies: ["CRMProtocol", "CRMJSON"], swiftSettings: swiftSettings),
        .testTarget(
            name: "CRMRPCTests",
            dependencies: ["CRMRPC", "CRMApplication", "CRMDomain", "CRMJSON", "CRMProtocol"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CRMServerTests",
            dependencies: [
                "CRMServer", "CRMTesting", "CRMProtocol", "CRMJSON", "CRMApplication",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CRMDaemonTests",
            dependencies: [
                "CRMDaemon", "CRMTesting", "CRMProtocol", "CRMJSON", "CRMApplication", "CRMRPC", "CRMDomain",
                "CRMEventStore", "LMDB", "JetStream",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CRMCtlTests",
            dependencies: ["CRMCtl", "CRMProtocol", "CRMJSON", "CRMDomain", "CRMRPC", "CRMTesting"],
            swiftSettings: swiftSettings
        ),
    ]
)
