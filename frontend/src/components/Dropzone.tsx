import { useRef, useState, type DragEvent, type KeyboardEvent } from "react";
import { UploadIcon } from "./icons";

/** Drop a file here, or click / press Enter to choose one. */
export function Dropzone({
  onFile,
  disabled,
  label = "Drop a demonstrations file here",
  hint,
}: {
  onFile: (file: File) => void;
  disabled?: boolean;
  label?: string;
  hint?: string;
}) {
  const inputRef = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);

  function open() {
    if (!disabled) inputRef.current?.click();
  }

  function onDrop(event: DragEvent) {
    event.preventDefault();
    setDragging(false);
    const file = event.dataTransfer.files[0];
    if (file && !disabled) onFile(file);
  }

  function onKeyDown(event: KeyboardEvent) {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      open();
    }
  }

  return (
    <div
      className={dragging ? "dropzone dragging" : "dropzone"}
      role="button"
      tabIndex={disabled ? -1 : 0}
      aria-disabled={disabled || undefined}
      aria-label={`${label}, or press Enter to choose a file`}
      onClick={open}
      onKeyDown={onKeyDown}
      onDragEnter={(event) => {
        event.preventDefault();
        setDragging(true);
      }}
      onDragOver={(event) => event.preventDefault()}
      onDragLeave={(event) => {
        if (!event.currentTarget.contains(event.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={onDrop}
    >
      <UploadIcon />
      <strong>{dragging ? "Release to check the file" : label}</strong>
      <span>
        or <span className="link-like">choose a file</span>
        {hint ? ` · ${hint}` : ""}
      </span>
      <input
        ref={inputRef}
        type="file"
        hidden
        data-testid="file-input"
        aria-label="Choose a demonstrations file"
        onChange={(event) => {
          const file = event.target.files?.[0];
          if (file) onFile(file);
          event.target.value = ""; // choosing the same file again still fires a change
        }}
      />
    </div>
  );
}
