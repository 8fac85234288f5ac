fn main() -> std::process::ExitCode {
    registry_server::cli::main()
}
