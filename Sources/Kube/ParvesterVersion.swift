public enum ParvesterVersion {
    public static let current = "0.1.0"
}
