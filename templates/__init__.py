"""The CSQ application form as data: template, geometry, codes and the one validator."""
